/* notify.c: sd_notify's datagram protocol: one message of "KEY=value" lines to $NOTIFY_SOCKET. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/notify.h"

/* Fills `sa` from the variable; returns the address length, or 0 when it is unusable. */
static socklen_t notify_address(const char *name, struct sockaddr_un *sa)
{
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(sa->sun_path)) {
        return 0;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, name, len);
    if (name[0] == '@') {
        sa->sun_path[0] = '\0'; /* the abstract namespace: the length counts, no NUL */
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
}

int notify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0') {
        return 1;
    }
    struct sockaddr_un sa;
    socklen_t salen = notify_address(name, &sa);
    if (salen == 0) {
        return ERR_INVAL;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return ERR_IO;
    }
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    close(fd);
    return n == (ssize_t)strlen(state) ? 0 : ERR_IO;
}

int notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    return notify_send(msg);
}
