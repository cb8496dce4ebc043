/* tls.c: the server's certificate and key, loaded with GnuTLS and handed to libmicrohttpd on
 * each handshake (see tls.h). */
#include "server/tls.h"

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_CHAIN 16

typedef struct pair {
    gnutls_pcert_st pcerts[MAX_CHAIN];
    unsigned npcerts;
    gnutls_privkey_t key;
    char desc[512];
    struct pair *older;      /* replaced pairs, kept until server_tls_free */
} pair_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pair_t *current;
static char *cert_path, *key_path;

static void pair_free(pair_t *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->npcerts; i++)
        gnutls_pcert_deinit(&p->pcerts[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

static void describe(pair_t *p)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, &p->pcerts[0].cert, GNUTLS_X509_FMT_DER) == 0) {
        unsigned char serial[64];
        size_t sl = sizeof(serial);
        char hex[2 * sizeof(serial) + 1] = "?";
        if (gnutls_x509_crt_get_serial(crt, serial, &sl) == 0)
            for (size_t i = 0; i < sl; i++)
                snprintf(hex + 2 * i, 3, "%02x", serial[i]);
        gnutls_datum_t dn = {0};
        gnutls_x509_crt_get_dn3(crt, &dn, 0);
        time_t until = gnutls_x509_crt_get_expiration_time(crt);
        struct tm tm;
        char when[64] = "?";
        if (until != (time_t)-1 && gmtime_r(&until, &tm))
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(p->desc, sizeof(p->desc), "serial %s, subject %s, valid until %s%s", hex,
                 dn.data ? (char *)dn.data : "?", when,
                 until != (time_t)-1 && until < time(NULL) ? " (EXPIRED)" : "");
        gnutls_free(dn.data);
    }
    gnutls_x509_crt_deinit(crt);
}

static int key_id(gnutls_pubkey_t pk, unsigned char *id, size_t *len)
{
    return gnutls_pubkey_get_key_id(pk, GNUTLS_KEYID_USE_SHA256, id, len);
}

/* Reads and checks a pair; NULL with err. */
static pair_t *pair_load(const char *cert_file, const char *key_file, gt_error_t *err)
{
    pair_t *p = xcalloc(1, sizeof(*p));
    size_t clen = 0, klen = 0;
    char *ctext = NULL, *ktext = NULL;
    gnutls_pubkey_t pk = NULL;
    int r;
    if (!(ctext = gt_read_file(cert_file, &clen, err)) ||
        !(ktext = gt_read_file(key_file, &klen, err)))
        goto fail;
    gnutls_datum_t cd = {(unsigned char *)ctext, (unsigned)clen};
    p->npcerts = MAX_CHAIN;
    if ((r = gnutls_pcert_list_import_x509_raw(p->pcerts, &p->npcerts, &cd,
                                               GNUTLS_X509_FMT_PEM, 0)) < 0 ||
        p->npcerts == 0) {
        p->npcerts = 0;
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "%s: not a PEM certificate (chain): %s",
                     cert_file, r < 0 ? gnutls_strerror(r) : "no certificate in it");
        goto fail;
    }
    gnutls_datum_t kd = {(unsigned char *)ktext, (unsigned)klen};
    if ((r = gnutls_privkey_init(&p->key)) < 0 ||
        (r = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "%s: not a PEM private key (unencrypted): %s",
                     key_file, gnutls_strerror(r));
        goto fail;
    }
    unsigned char a[64], b[64];
    size_t al = sizeof(a), bl = sizeof(b);
    if (gnutls_pubkey_init(&pk) < 0 || gnutls_pubkey_import_privkey(pk, p->key, 0, 0) < 0 ||
        key_id(pk, a, &al) < 0 || key_id(p->pcerts[0].pubkey, b, &bl) < 0 || al != bl ||
        memcmp(a, b, al) != 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "the key in %s does not belong to the "
                     "certificate in %s", key_file, cert_file);
        goto fail;
    }
    gnutls_pubkey_deinit(pk);
    free(ctext);
    explicit_bzero(ktext, klen);
    free(ktext);
    describe(p);
    struct stat st;
    if (stat(key_file, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "gantry server: warning: the TLS key %s can be read by others (mode "
                "%03o); make it 0600.\n", key_file, (unsigned)(st.st_mode & 0777));
    return p;
fail:
    if (pk)
        gnutls_pubkey_deinit(pk);
    free(ctext);
    if (ktext)
        explicit_bzero(ktext, klen);
    free(ktext);
    pair_free(p);
    return NULL;
}

int server_tls_load(const char *cert_file, const char *key_file, gt_error_t *err)
{
    pair_t *p = pair_load(cert_file, key_file, err);
    if (!p)
        return -1;
    pthread_mutex_lock(&mu);
    p->older = current;
    current = p;
    free(cert_path);
    free(key_path);
    cert_path = xstrdup(cert_file);
    key_path = xstrdup(key_file);
    pthread_mutex_unlock(&mu);
    return 0;
}

int server_tls_reload(gt_error_t *err)
{
    if (!cert_path) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "the server does not serve TLS");
    }
    pair_t *p = pair_load(cert_path, key_path, err);
    if (!p)
        return -1;
    pthread_mutex_lock(&mu);
    p->older = current;
    current = p;
    pthread_mutex_unlock(&mu);
    return 0;
}

const char *server_tls_describe(char *buf, size_t len)
{
    pthread_mutex_lock(&mu);
    snprintf(buf, len, "%s", current ? current->desc : "no certificate");
    pthread_mutex_unlock(&mu);
    return buf;
}

static int retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length,
                    gnutls_privkey_t *privkey)
{
    (void)s;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    pthread_mutex_lock(&mu);
    pair_t *p = current;
    pthread_mutex_unlock(&mu);
    if (!p)
        return -1;
    *pcert = p->pcerts;
    *pcert_length = p->npcerts;
    *privkey = p->key;
    return 0;
}

void *server_tls_retrieve(void)
{
    gnutls_certificate_retrieve_function2 *f = retrieve;
    return (void *)f;
}

void server_tls_free(void)
{
    pthread_mutex_lock(&mu);
    pair_t *p = current;
    current = NULL;
    free(cert_path);
    free(key_path);
    cert_path = key_path = NULL;
    pthread_mutex_unlock(&mu);
    while (p) {
        pair_t *o = p->older;
        pair_free(p);
        p = o;
    }
}
