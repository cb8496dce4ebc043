/* tlsgen.c: a local CA and server certificates with the GnuTLS C API (see tlsgen.h). */
#include "cli/tlsgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CA_DAYS 3650
#define SERVER_DAYS 365

static int tls_fail(gt_error_t *err, const char *what, int r)
{
    errno = EIO;
    return gt_error_set(err, "internal", "%s: %s", what, gnutls_strerror(r));
}

/* Writes d to DIR/name with mode, whole or not at all (gt_write_file_atomic). */
static int write_pem(const char *dir, const char *name, const gnutls_datum_t *d, mode_t mode,
                     gt_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return gt_write_file_atomic(path, d->data, d->size, mode, err);
}

static int new_key(gnutls_x509_privkey_t *k, gt_error_t *err)
{
    int r;
    if ((r = gnutls_x509_privkey_init(k)) < 0)
        return tls_fail(err, "cannot make a key", r);
    if ((r = gnutls_x509_privkey_generate(*k, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                          0)) < 0)
        return tls_fail(err, "cannot make a key", r);
    return 0;
}

/* Version 3, a random positive 128-bit serial, CN, validity from an hour ago, the key. */
static int crt_base(gnutls_x509_crt_t c, const char *cn, int days, gnutls_x509_privkey_t k,
                    gt_error_t *err)
{
    unsigned char serial[16];
    int r;
    if ((r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        return tls_fail(err, "cannot draw a serial number", r);
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    time_t now = time(NULL);
    if ((r = gnutls_x509_crt_set_version(c, 3)) < 0 ||
        (r = gnutls_x509_crt_set_serial(c, serial, sizeof(serial))) < 0 ||
        (r = gnutls_x509_crt_set_activation_time(c, now - 3600)) < 0 ||
        (r = gnutls_x509_crt_set_expiration_time(c, now + (time_t)days * 86400)) < 0 ||
        (r = gnutls_x509_crt_set_key(c, k)) < 0 ||
        (r = gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                           (unsigned)strlen(cn))) < 0)
        return tls_fail(err, "cannot fill a certificate", r);
    unsigned char id[64];
    size_t idl = sizeof(id);
    if ((r = gnutls_x509_crt_get_key_id(c, GNUTLS_KEYID_USE_SHA1, id, &idl)) < 0 ||
        (r = gnutls_x509_crt_set_subject_key_id(c, id, idl)) < 0)
        return tls_fail(err, "cannot fill a certificate", r);
    return 0;
}

static int export_crt(gnutls_x509_crt_t c, const char *dir, const char *name, gt_error_t *err)
{
    gnutls_datum_t d = {0};
    int r = gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &d);
    if (r < 0)
        return tls_fail(err, "cannot encode a certificate", r);
    r = write_pem(dir, name, &d, 0644, err);
    gnutls_free(d.data);
    return r;
}

static int export_key(gnutls_x509_privkey_t k, const char *dir, const char *name,
                      gt_error_t *err)
{
    gnutls_datum_t d = {0};
    int r = gnutls_x509_privkey_export2_pkcs8(k, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                              &d);
    if (r < 0)
        return tls_fail(err, "cannot encode a key", r);
    r = write_pem(dir, name, &d, 0600, err);
    gnutls_memset(d.data, 0, d.size);
    gnutls_free(d.data);
    return r;
}

/* Loads DIR/ca.pem and DIR/ca-key.pem if both are there (1), 0 if neither is, -1 on error. */
static int load_ca(const char *dir, gnutls_x509_crt_t ca, gnutls_x509_privkey_t *key,
                   gt_error_t *err)
{
    char cp[4200], kp[4200];
    snprintf(cp, sizeof(cp), "%s/ca.pem", dir);
    snprintf(kp, sizeof(kp), "%s/ca-key.pem", dir);
    bool hc = access(cp, F_OK) == 0, hk = access(kp, F_OK) == 0;
    if (!hc && !hk)
        return 0;
    if (hc != hk) {
        errno = ENOENT;
        return gt_error_set(err, "invalid_argument", "%s is there without %s: remove it to make "
                            "a new CA", hc ? cp : kp, hc ? kp : cp);
    }
    size_t cl, kl;
    char *ct = gt_read_file(cp, &cl, err), *kt = ct ? gt_read_file(kp, &kl, err) : NULL;
    int rc = -1, r;
    if (!kt)
        goto out;
    gnutls_datum_t cd = {(unsigned char *)ct, (unsigned)cl}, kd = {(unsigned char *)kt,
                                                                    (unsigned)kl};
    if ((r = gnutls_x509_crt_import(ca, &cd, GNUTLS_X509_FMT_PEM)) < 0) {
        gt_error_set(err, "invalid_argument", "%s: %s", cp, gnutls_strerror(r));
        goto out;
    }
    if ((r = gnutls_x509_privkey_init(key)) < 0 ||
        (r = gnutls_x509_privkey_import2(*key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        gt_error_set(err, "invalid_argument", "%s: %s", kp, gnutls_strerror(r));
        goto out;
    }
    rc = 1;
out:
    free(ct);
    if (kt)
        explicit_bzero(kt, kl);
    free(kt);
    return rc;
}

static int make_ca(const char *dir, gnutls_x509_crt_t ca, gnutls_x509_privkey_t *key,
                   gt_error_t *err)
{
    char host[200] = "localhost", cn[300];
    gethostname(host, sizeof(host) - 1);
    snprintf(cn, sizeof(cn), "Gantry local CA (%s)", host);
    int r;
    if (new_key(key, err) < 0 || crt_base(ca, cn, CA_DAYS, *key, err) < 0)
        return -1;
    if ((r = gnutls_x509_crt_set_basic_constraints(ca, 1, -1)) < 0 ||
        (r = gnutls_x509_crt_set_key_usage(ca, GNUTLS_KEY_KEY_CERT_SIGN |
                                                   GNUTLS_KEY_CRL_SIGN)) < 0 ||
        (r = gnutls_x509_crt_sign2(ca, ca, *key, GNUTLS_DIG_SHA256, 0)) < 0)
        return tls_fail(err, "cannot sign the CA certificate", r);
    if (export_key(*key, dir, "ca-key.pem", err) < 0 || export_crt(ca, dir, "ca.pem", err) < 0)
        return -1;
    return 0;
}

static int add_name(gnutls_x509_crt_t c, const char *h, gt_error_t *err)
{
    unsigned char ip[16];
    int r;
    if (inet_pton(AF_INET, h, ip) == 1)
        r = gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, ip, 4,
                                                 GNUTLS_FSAN_APPEND);
    else if (inet_pton(AF_INET6, h, ip) == 1)
        r = gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, ip, 16,
                                                 GNUTLS_FSAN_APPEND);
    else if (*h && strlen(h) < 254 && !strpbrk(h, " /:@\t\n"))
        r = gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, h,
                                                 (unsigned)strlen(h), GNUTLS_FSAN_APPEND);
    else {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "'%s' is neither an IP address nor a DNS "
                            "name", h);
    }
    return r < 0 ? tls_fail(err, "cannot add a name to the certificate", r) : 0;
}

int tlsgen_issue(const char *dir, const char *const *hosts, size_t nhosts, gt_error_t *err)
{
    gnutls_x509_crt_t ca = NULL, crt = NULL;
    gnutls_x509_privkey_t cakey = NULL, key = NULL;
    int rc = -1, r;
    if (gt_mkdirs(dir, 0700, NULL) < 0)
        return gt_error_set(err, "internal", "cannot create %s: %s", dir, strerror(errno));
    if ((r = gnutls_x509_crt_init(&ca)) < 0 || (r = gnutls_x509_crt_init(&crt)) < 0) {
        tls_fail(err, "cannot start GnuTLS", r);
        goto out;
    }
    int have = load_ca(dir, ca, &cakey, err);
    if (have < 0 || (have == 0 && make_ca(dir, ca, &cakey, err) < 0))
        goto out;
    if (new_key(&key, err) < 0 ||
        crt_base(crt, nhosts ? hosts[0] : "localhost", SERVER_DAYS, key, err) < 0)
        goto out;
    static const char *const local[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < 3; i++)
        if (add_name(crt, local[i], err) < 0)
            goto out;
    for (size_t i = 0; i < nhosts; i++)
        if (add_name(crt, hosts[i], err) < 0)
            goto out;
    unsigned char id[64];
    size_t idl = sizeof(id);
    unsigned crit = 0;
    if ((r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
        (r = gnutls_x509_crt_get_subject_key_id(ca, id, &idl, &crit)) < 0 ||
        (r = gnutls_x509_crt_set_authority_key_id(crt, id, idl)) < 0 ||
        (r = gnutls_x509_crt_sign2(crt, ca, cakey, GNUTLS_DIG_SHA256, 0)) < 0) {
        tls_fail(err, "cannot sign the server certificate", r);
        goto out;
    }
    /* the key first: a reload between the two renames sees a mismatch and keeps the old pair */
    if (export_key(key, dir, "server-key.pem", err) < 0 ||
        export_crt(crt, dir, "server.pem", err) < 0)
        goto out;
    rc = 0;
out:
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (ca)
        gnutls_x509_crt_deinit(ca);
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (cakey)
        gnutls_x509_privkey_deinit(cakey);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gantry tls-gen DIR [--host NAME|IP]...\n\n"
               "Makes a local certificate authority in DIR (ca.pem, ca-key.pem; kept and reused "
               "if there)\nand issues a new server certificate (server.pem, server-key.pem) for "
               "localhost,\n127.0.0.1, ::1 and each --host. Keys are 0600, DIR 0700. Serve with\n"
               "  gantry server --tls-cert DIR/server.pem --tls-key DIR/server-key.pem\n"
               "and give clients and agents --ca-file DIR/ca.pem (or GANTRY_CA_FILE). Run it "
               "again and\nsend the server SIGHUP to renew its certificate.\n");
}

int cmd_tls_gen(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char **hosts = xcalloc((size_t)argc + 1, sizeof(*hosts));
    size_t nhosts = 0;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H': hosts[nhosts++] = optarg; break;
        case 'h': usage(stdout); rc = 0; goto out;
        default: usage(stderr); goto out;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        goto out;
    }
    gt_error_t err = {0};
    const char *dir = argv[optind];
    if (tlsgen_issue(dir, hosts, nhosts, &err) < 0) {
        fprintf(stderr, "gantry tls-gen: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    printf("CA:          %s/ca.pem (give it to clients and agents: --ca-file)\n"
           "certificate: %s/server.pem\n"
           "key:         %s/server-key.pem\n",
           dir, dir, dir);
    rc = 0;
out:
    free(hosts);
    return rc;
}
