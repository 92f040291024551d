/* notify.h: the service manager's readiness protocol (sd_notify(3) without libsystemd). */
#ifndef STARLING_CORE_NOTIFY_H
#define STARLING_CORE_NOTIFY_H

/* Sends `state` ("READY=1", "RELOADING=1\nMONOTONIC_USEC=…", "STOPPING=1", "STATUS=…") as one
 * datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract
 * namespace). Returns 0 when sent, 1 when NOTIFY_SOCKET is unset (not run by systemd with
 * Type=notify: nothing to do), ERR_INVAL for a malformed variable, ERR_IO when sending fails. */
int notify_send(const char *state);
/* notify_send("RELOADING=1\nMONOTONIC_USEC=<now>") as Type=notify-reload expects. */
int notify_reloading(void);

#endif
