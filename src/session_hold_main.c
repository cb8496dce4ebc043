/* gantry-session-hold: an interactive job's placeholder inside its container (agent/
 * session_hold.h), linked statically so that it runs in any image. Not meant to be run by
 * hand: the agent binds it into the container and the session's end signals it. */
#include "agent/session_hold.h"

int main(void) { return session_hold_main(); }
