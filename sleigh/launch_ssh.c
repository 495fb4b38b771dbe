/*
 * launch_ssh.c -- the ssh launcher: workers on the nodes of a list, over
 * libssh.
 *
 * Per distinct node: one ssh session; one exec channel running the node
 * launcher (nws-worker --count N --watch-stdin, worker/node.c) in the
 * foreground, which starts the node's N workers and ends them when the
 * channel closes, however it closes (stop, the master's death, a lost
 * connection); and, unless the workers reach the server directly
 * (spec.remote_host), one reverse port forward on the node's loopback
 * whose connections we carry to the server: the tunnel.
 *
 * Threads.  start() runs the handshakes (connect, host key, login, port
 * forward, exec) on at most max_startups short-lived threads, so a long
 * list costs a few handshake times and sshd's MaxStartups is not hit.
 * Each handshake uses blocking libssh calls with the spec's timeout, on a
 * session no other thread sees.  A finished handshake hands its session
 * to the pump thread, which owns it from then on (non-blocking): it reads
 * the node launcher's reports, accepts forwarded connections and copies
 * their bytes to and from the server, sends keepalives, notices lost
 * nodes, and ends the sessions on stop.
 *
 * Nothing deadlocks with the caller, who may be blocked in a fetch whose
 * answer the pump carries: the caller only reads and writes node state
 * under sl_mu and waits on sl_cv; the pump holds sl_mu while it works but
 * never while it sleeps in poll(), and nothing it does waits: the server
 * sockets are non-blocking, a channel write never exceeds the peer's
 * window, and the tunnel buffers are bounded (a full buffer stops reading
 * from its source, which is ssh's and TCP's flow control).
 *
 * Node states: queued -> connecting (a handshake thread owns the session)
 * -> starting (the pump owns it; waiting for the ranks) -> running, or
 * failed (never started) / exited (the node launcher ended by itself) /
 * lost (the connection broke or went silent) / stopped.  A node in one of
 * the last four has no session any more.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h> /* ssh_send_keepalive, which a client may send too */

#include "launch.h"
#include "node_protocol.h"
#include "nwsp.h"
#include "sleighp.h"

#define SSH_TICK_MS     100   /* the pump's longest sleep */
#define SSH_TUN_BUF     65536 /* bytes buffered per direction per connection */
#define SSH_WRITE_MAX   32768 /* bytes per channel write (one packet) */
#define SSH_LINE_MAX    1024  /* a node launcher's report line */
#define SSH_STOP_WAIT_S 5.0   /* after the end of input, before we disconnect */
#define SSH_LOST_PROBES 3     /* keepalive periods of silence that lose a node */
#define SSH_WHY_MAX     200

enum ssh_state {
    SN_QUEUED,
    SN_CONNECTING,
    SN_STARTING,
    SN_RUNNING,
    SN_FAILED,
    SN_EXITED,
    SN_LOST,
    SN_STOPPED
};

static const char *const ssh_state_names[] = {
    [SN_QUEUED] = "queued",   [SN_CONNECTING] = "connecting", [SN_STARTING] = "starting",
    [SN_RUNNING] = "running", [SN_FAILED] = "failed",         [SN_EXITED] = "exited",
    [SN_LOST] = "lost",       [SN_STOPPED] = "stopped",
};

/* A forwarded connection: a worker on the node <-> the server. */
struct ssh_tunnel {
    struct ssh_tunnel *st_next;
    ssh_channel        st_ch;
    int                st_fd; /* to the server, non-blocking */
    size_t             st_ai; /* the server address being tried */
    int                st_connecting;
    int                st_ch_eof;   /* the node sends no more */
    int                st_fd_eof;   /* the server sends no more */
    int                st_shut;     /* we shut the socket's writing side */
    int                st_eof_sent; /* we sent the channel's EOF */
    int                st_dead;
    short              st_revents;
    size_t             st_uplen, st_downlen;
    char               st_up[SSH_TUN_BUF];   /* node -> server */
    char               st_down[SSH_TUN_BUF]; /* server -> node */
};

/*
 * Per rank of a node: what the node launcher last said.  A new rank is
 * about to start and a restarting one will start again: both count as
 * running for the sleigh's wait (nwsp_launch_status), not as alive.
 */
enum { RANK_NEW, RANK_UP, RANK_RESTARTING, RANK_DOWN };

struct ssh_node {
    char          *sn_host;  /* as listed: a host name, address or config alias */
    char          *sn_user;  /* user@ of the entry, or NULL */
    char          *sn_label; /* [user@]host, for messages and status */
    long           sn_want;  /* workers to run there */
    enum ssh_state sn_state;
    char           sn_error[SSH_WHY_MAX]; /* why it failed, was lost, or exited badly */
    int            sn_exit;               /* the node launcher's exit status, or -1 */

    ssh_session               sn_ss;
    ssh_channel               sn_ch;     /* the node launcher */
    int                       sn_rport;  /* the tunnel's port on the node */
    int                       sn_pumped; /* the pump owns sn_ss */
    struct ssh_counter_struct sn_rx;     /* bytes received (libssh counts) */
    uint64_t                  sn_rx_seen;
    double                    sn_last_rx, sn_next_probe, sn_deadline;
    short                     sn_revents;
    int                       sn_out_eof, sn_err_eof;
    char                      sn_out[SSH_LINE_MAX];
    size_t                    sn_outlen;
    char                      sn_err[SSH_LINE_MAX];
    size_t                    sn_errlen;
    char                      sn_lasterr[SSH_WHY_MAX]; /* its last line of stderr */
    struct ssh_tunnel        *sn_tun;

    long          *sn_ranks;
    unsigned char *sn_rank_state; /* RANK_* per rank */
    size_t         sn_nranks;
    long           sn_launched, sn_restarts;

    int    sn_stop; /* stop asked: EOF at sn_stop_at, disconnect at sn_kill_at */
    double sn_stop_at, sn_kill_at;
    int    sn_eof_sent;
};

struct ssh_launcher {
    struct nwsp_launcher     sl_base;
    struct nwsp_launch_spec  sl_spec; /* its strings point into the copies below */
    char                    *sl_ws, *sl_worker, *sl_cwd, *sl_remote_host, *sl_user;
    char                    *sl_config, *sl_identity, *sl_known_hosts, **sl_env;
    char                    *sl_secret; /* sent down each node's channel, or NULL */
    struct nwsp_nodes        sl_list;
    struct sockaddr_storage *sl_addr; /* the server, as the master reaches it */
    socklen_t               *sl_addrlen;
    size_t                   sl_naddr;

    pthread_mutex_t   sl_mu;
    pthread_cond_t    sl_cv;
    pthread_mutex_t   sl_kh_mu; /* one known_hosts update at a time */
    struct ssh_node **sl_nodes;
    size_t            sl_nn, sl_cap;
    pthread_t         sl_pump;
    int               sl_pump_running;
    int               sl_wake[2];
    int               sl_stopping, sl_quit;

    /* The pump's poll set (only the pump uses these). */
    struct pollfd *sl_pfd;
    void         **sl_pobj;
    unsigned char *sl_pkind; /* 0 wake pipe, 1 node session, 2 tunnel */
    size_t         sl_pcap;
};

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;

/* libssh's global state, once. */
static void
ssh_init_once(void)
{
    ssh_init();
}

/* Wakes the pump. */
static void
ssh_wake(struct ssh_launcher *sl)
{
    char b = 1;

    if (sl->sl_wake[1] >= 0 && write(sl->sl_wake[1], &b, 1) < 0) {
        /* full: it wakes anyway */
    }
}

/* ---- the remote command -------------------------------------------------- */

/* Appends s to the string *buf (length *len), single-quoted for sh; 0, or -1. */
static int
ssh_cat(char **buf, size_t *len, const char *s, int quote)
{
    size_t need = strlen(s) * 4 + 4, i;
    char  *nb = realloc(*buf, *len + need + 1), *p;

    if (nb == NULL)
        return -1;
    *buf = nb;
    p = nb + *len;
    if (*len > 0)
        *p++ = ' ';
    if (!quote) {
        memcpy(p, s, strlen(s));
        p += strlen(s);
    } else {
        *p++ = '\'';
        for (i = 0; s[i] != '\0'; i++) {
            if (s[i] == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = s[i];
            }
        }
        *p++ = '\'';
    }
    *p = '\0';
    *len = (size_t)(p - nb);
    return 0;
}

/* The node launcher's command line, for the node's login shell. */
char *
nwsp_ssh_command(const struct nwsp_launch_spec *spec, const char *server_host,
                 int server_port, long n)
{
    char  *buf = NULL, num[64];
    size_t len = 0, i;
    int    rc = 0;

    if (spec->working_dir != NULL && *spec->working_dir != '\0')
        rc |= ssh_cat(&buf, &len, "cd", 0) | ssh_cat(&buf, &len, spec->working_dir, 1) |
              ssh_cat(&buf, &len, "&&", 0);
    /* exec: the node launcher is the channel's process, so its end is the channel's. */
    rc |= ssh_cat(&buf, &len, "exec env", 0);
    snprintf(num, sizeof(num), "NWS_SLEIGH_WORKERS=%d", spec->total);
    rc |= ssh_cat(&buf, &len, num, 1);
    for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
        if (strchr(spec->env[i], '=') != NULL && spec->env[i][0] != '=')
            rc |= ssh_cat(&buf, &len, spec->env[i], 1);
    rc |= ssh_cat(&buf, &len, spec->worker_path, 1);
    snprintf(num, sizeof(num), "%ld", n);
    rc |= ssh_cat(&buf, &len, "--count", 0) | ssh_cat(&buf, &len, num, 0) |
          ssh_cat(&buf, &len, "--watch-stdin", 0) | ssh_cat(&buf, &len, "--host", 0) |
          ssh_cat(&buf, &len, server_host, 1);
    snprintf(num, sizeof(num), "%d", server_port);
    rc |= ssh_cat(&buf, &len, "--port", 0) | ssh_cat(&buf, &len, num, 0) |
          ssh_cat(&buf, &len, "--workspace", 0) | ssh_cat(&buf, &len, spec->ws_name, 1);
    if (spec->verbose)
        rc |= ssh_cat(&buf, &len, "--verbose", 0);
    if (spec->output)
        rc |= ssh_cat(&buf, &len, "--output", 0);
    if (!spec->restart)
        rc |= ssh_cat(&buf, &len, "--no-restart", 0);
    /* The secret itself follows on the channel (ssh_send_secret). */
    if (spec->secret != NULL)
        rc |= ssh_cat(&buf, &len, "--secret-fd 0", 0);
    if (rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The length of a string constant of node_protocol.h. */
#define SSH_LEN(word) (sizeof(word) - 1)

/* Parses a report line of the node launcher (node_protocol.h). */
int
nwsp_node_line(const char *line, long **ranks, size_t *n, long *rank, long *pid,
               int *again, const char **text)
{
    const char *p;
    char       *end;
    long       *v = NULL, *nv, r;
    size_t      len = 0, cap = 0;

    if (strncmp(line, NWSP_NODE_PREFIX, SSH_LEN(NWSP_NODE_PREFIX)) != 0)
        return -1;
    line += SSH_LEN(NWSP_NODE_PREFIX);
    if (strncmp(line, NWSP_NODE_RANKS_V, SSH_LEN(NWSP_NODE_RANKS_V)) == 0 &&
        (line[SSH_LEN(NWSP_NODE_RANKS_V)] == ' ' ||
         line[SSH_LEN(NWSP_NODE_RANKS_V)] == '\0')) {
        for (p = line + SSH_LEN(NWSP_NODE_RANKS_V); *p == ' ';) {
            r = strtol(p + 1, &end, 10);
            if (end == p + 1 || r < 0 || (*end != ' ' && *end != '\0'))
                goto bad;
            if (len == cap) {
                cap = cap ? cap * 2 : 16;
                if (cap > 65536 || (nv = realloc(v, cap * sizeof(*v))) == NULL)
                    goto bad;
                v = nv;
            }
            v[len++] = r;
            p = end;
        }
        if (*p != '\0' || len == 0)
            goto bad;
        *ranks = v;
        *n = len;
        return NWSP_NODE_RANKS;
    }
    if (strncmp(line, NWSP_NODE_UP_V " ", SSH_LEN(NWSP_NODE_UP_V " ")) == 0) {
        p = line + SSH_LEN(NWSP_NODE_UP_V " ");
        *rank = strtol(p, &end, 10);
        if (end == p || *end != ' ')
            return -1;
        p = end + 1;
        *pid = strtol(p, &end, 10);
        return end != p && *end == '\0' ? NWSP_NODE_UP : -1;
    }
    if (strncmp(line, NWSP_NODE_DOWN_V " ", SSH_LEN(NWSP_NODE_DOWN_V " ")) == 0) {
        p = line + SSH_LEN(NWSP_NODE_DOWN_V " ");
        *rank = strtol(p, &end, 10);
        if (end == p || *end != ' ')
            return -1;
        if (strncmp(end + 1, NWSP_NODE_AGAIN " ", SSH_LEN(NWSP_NODE_AGAIN " ")) == 0)
            *again = 1;
        else if (strncmp(end + 1, NWSP_NODE_FINAL " ", SSH_LEN(NWSP_NODE_FINAL " ")) == 0)
            *again = 0;
        else
            return -1;
        return NWSP_NODE_DOWN;
    }
    if (strncmp(line, NWSP_NODE_ERROR_V " ", SSH_LEN(NWSP_NODE_ERROR_V " ")) == 0) {
        *text = line + SSH_LEN(NWSP_NODE_ERROR_V " ");
        return NWSP_NODE_ERROR;
    }
    return -1;
bad:
    free(v);
    return -1;
}

/* ---- handshakes ---------------------------------------------------------- */

/* The host name a session ended up with (after the config's HostName); new, or NULL. */
static char *
ssh_real_host(ssh_session ss)
{
    char *h = NULL;

    if (ssh_options_get(ss, SSH_OPTIONS_HOST, &h) != SSH_OK)
        return NULL;
    return h;
}

/* Checks the server's host key against known_hosts; 0, or -1 with why. */
static int
ssh_check_host_key(struct ssh_launcher *sl, ssh_session ss, char *why, size_t len)
{
    enum ssh_known_hosts_e st = ssh_session_is_known_server(ss);
    char                  *path = NULL;
    const char            *kh;
    int                    rc = 0;

    /* The file in use: ours, the config's UserKnownHostsFile, or ~/.ssh/known_hosts. */
    if (ssh_options_get(ss, SSH_OPTIONS_KNOWNHOSTS, &path) != SSH_OK)
        path = NULL;
    kh = path != NULL ? path : "known_hosts";
    switch (st) {
    case SSH_KNOWN_HOSTS_OK:
        break;
    case SSH_KNOWN_HOSTS_CHANGED:
        snprintf(why, len,
                 "HOST KEY CHANGED (%.100s has another key for it: an attack, "
                 "or a reinstalled node)",
                 kh);
        rc = -1;
        break;
    case SSH_KNOWN_HOSTS_OTHER:
        snprintf(why, len, "host key of another type than %.100s has for it", kh);
        rc = -1;
        break;
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
        if (!sl->sl_spec.accept_new) {
            snprintf(why, len, "unknown host key (not in %.100s; accept new host keys?)",
                     kh);
            rc = -1;
            break;
        }
        pthread_mutex_lock(&sl->sl_kh_mu);
        rc = ssh_session_update_known_hosts(ss) == SSH_OK ? 0 : -1;
        pthread_mutex_unlock(&sl->sl_kh_mu);
        if (rc != 0)
            snprintf(why, len, "cannot add the host key to %.100s: %s", kh,
                     ssh_get_error(ss));
        break;
    case SSH_KNOWN_HOSTS_ERROR:
    default:
        snprintf(why, len, "cannot check the host key: %s", ssh_get_error(ss));
        rc = -1;
        break;
    }
    ssh_string_free_char(path);
    return rc;
}

/* Logs in without asking anyone anything; 0, or -1 with why. */
static int
ssh_login(ssh_session ss, char *why, size_t len)
{
    char tried[64] = "", *user = NULL;
    int  rc, methods;

    if ((rc = ssh_userauth_none(ss, NULL)) == SSH_AUTH_SUCCESS)
        return 0;
    if (rc == SSH_AUTH_ERROR)
        goto error;
    methods = ssh_userauth_list(ss, NULL);
    if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
        /* The agent, then the identity files without a passphrase. */
        if ((rc = ssh_userauth_publickey_auto(ss, NULL, NULL)) == SSH_AUTH_SUCCESS)
            return 0;
        if (rc == SSH_AUTH_ERROR)
            goto error;
        snprintf(tried, sizeof(tried), "publickey");
    }
    if (methods & SSH_AUTH_METHOD_GSSAPI_MIC) {
        if ((rc = ssh_userauth_gssapi(ss)) == SSH_AUTH_SUCCESS)
            return 0;
        if (rc == SSH_AUTH_ERROR)
            goto error;
        strncat(tried, tried[0] ? ", gssapi" : "gssapi",
                sizeof(tried) - strlen(tried) - 1);
    }
    ssh_options_get(ss, SSH_OPTIONS_USER, &user);
    snprintf(why, len, "authentication refused for %s (tried %s; no password is asked)",
             user ? user : "?", tried[0] ? tried : "nothing the node offers");
    ssh_string_free_char(user);
    return -1;
error:
    snprintf(why, len, "login failed: %s", ssh_get_error(ss));
    return -1;
}

/*
 * Connects to node n, logs in, opens the tunnel (unless direct) and starts
 * the node launcher.  On success the session is left non-blocking in
 * *ssp / *chp with the tunnel's port in *rport; 0, or -1 with why.
 */
static int ssh_send_secret(ssh_channel ch, const char *secret);

static int
ssh_handshake(struct ssh_launcher *sl, const struct ssh_node *n, ssh_session *ssp,
              ssh_channel *chp, int *rport, struct ssh_counter_struct *rx, char *why,
              size_t len)
{
    ssh_session ss = ssh_new();
    ssh_channel ch = NULL;
    const char *user = n->sn_user ? n->sn_user : sl->sl_user;
    char       *host = NULL, *cmd = NULL;
    long        timeout = (long)(sl->sl_spec.timeout + 0.999);
    int         yes = 1, no = 0, port = sl->sl_spec.ssh_port, bound = 0;

    if (ss == NULL) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    if (ssh_options_set(ss, SSH_OPTIONS_HOST, n->sn_host) != SSH_OK) {
        snprintf(why, len, "bad host name: %s", ssh_get_error(ss));
        goto fail;
    }
    /* Config first: what the user gave explicitly wins over it. */
    if (sl->sl_config != NULL && *sl->sl_config == '\0') {
        ssh_options_set(ss, SSH_OPTIONS_PROCESS_CONFIG, &no);
    } else if (ssh_options_parse_config(ss, sl->sl_config) < 0) {
        snprintf(why, len, "ssh config %s: %s",
                 sl->sl_config ? sl->sl_config : "~/.ssh/config", ssh_get_error(ss));
        goto fail;
    }
    if ((user != NULL && ssh_options_set(ss, SSH_OPTIONS_USER, user) != SSH_OK) ||
        (port > 0 && ssh_options_set(ss, SSH_OPTIONS_PORT, &port) != SSH_OK) ||
        (sl->sl_identity != NULL &&
         ssh_options_set(ss, SSH_OPTIONS_ADD_IDENTITY, sl->sl_identity) != SSH_OK) ||
        (sl->sl_known_hosts != NULL &&
         ssh_options_set(ss, SSH_OPTIONS_KNOWNHOSTS, sl->sl_known_hosts) != SSH_OK) ||
        ssh_options_set(ss, SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
        ssh_options_set(ss, SSH_OPTIONS_NODELAY, &yes) != SSH_OK) {
        snprintf(why, len, "ssh options: %s", ssh_get_error(ss));
        goto fail;
    }
    ssh_set_counters(ss, NULL, rx);
    host = ssh_real_host(ss);
    if (ssh_connect(ss) != SSH_OK) {
        snprintf(why, len, "unreachable: cannot connect to %s: %s",
                 host ? host : n->sn_host, ssh_get_error(ss));
        goto fail;
    }
    if (ssh_check_host_key(sl, ss, why, len) != 0 || ssh_login(ss, why, len) != 0)
        goto fail;
    if (sl->sl_remote_host == NULL) {
        if (ssh_channel_listen_forward(ss, "127.0.0.1", 0, &bound) != SSH_OK ||
            bound <= 0) {
            snprintf(why, len,
                     "the node refused a reverse port forward (is "
                     "AllowTcpForwarding off? then give the workers a server "
                     "address): %s",
                     ssh_get_error(ss));
            goto fail;
        }
        *rport = bound;
    }
    cmd = nwsp_ssh_command(
        &sl->sl_spec, sl->sl_remote_host ? sl->sl_remote_host : "127.0.0.1",
        sl->sl_remote_host ? sl->sl_spec.remote_port : bound, n->sn_want);
    if (cmd == NULL) {
        snprintf(why, len, "out of memory");
        goto fail;
    }
    if ((ch = ssh_channel_new(ss)) == NULL || ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, cmd) != SSH_OK) {
        snprintf(why, len, "cannot run a command: %s", ssh_get_error(ss));
        goto fail;
    }
    if (ssh_send_secret(ch, sl->sl_spec.secret) != 0) {
        snprintf(why, len, "cannot send the secret: %s", ssh_get_error(ss));
        goto fail;
    }
    free(cmd);
    ssh_string_free_char(host);
    ssh_set_blocking(ss, 0);
    *ssp = ss;
    *chp = ch;
    return 0;
fail:
    free(cmd);
    ssh_string_free_char(host);
    if (ch != NULL)
        ssh_channel_free(ch);
    ssh_disconnect(ss);
    ssh_free(ss);
    return -1;
}

/*
 * Writes the secret as the first line of the node launcher's standard
 * input (it reads it with --secret-fd 0): inside the encrypted channel,
 * never on the node's command line or in its environment.  Nothing to do
 * without a secret.  0, or -1.
 */
static int
ssh_send_secret(ssh_channel ch, const char *secret)
{
    size_t len;

    if (secret == NULL)
        return 0;
    len = strlen(secret);
    if (ssh_channel_write(ch, secret, (uint32_t)len) != (int)len ||
        ssh_channel_write(ch, "\n", 1) != 1)
        return -1;
    return 0;
}

/* A handshake thread: connects queued nodes until none is left. */
static void *
ssh_hs_main(void *arg)
{
    struct ssh_launcher *sl = arg;
    struct ssh_node     *n;
    ssh_session          ss;
    ssh_channel          ch;
    char                 why[SSH_WHY_MAX];
    size_t               i;
    int                  rport, rc;

    pthread_mutex_lock(&sl->sl_mu);
    for (;;) {
        for (i = 0, n = NULL; i < sl->sl_nn && n == NULL; i++)
            if (sl->sl_nodes[i]->sn_state == SN_QUEUED)
                n = sl->sl_nodes[i];
        if (n == NULL)
            break;
        n->sn_state = SN_CONNECTING;
        pthread_mutex_unlock(&sl->sl_mu);
        ss = NULL;
        ch = NULL;
        rport = 0;
        why[0] = '\0';
        rc = ssh_handshake(sl, n, &ss, &ch, &rport, &n->sn_rx, why, sizeof(why));
        pthread_mutex_lock(&sl->sl_mu);
        if (rc == 0 && sl->sl_stopping) {
            ssh_channel_free(ch);
            ssh_disconnect(ss);
            ssh_free(ss);
            snprintf(why, sizeof(why), "the sleigh stopped");
            rc = -1;
        }
        if (rc != 0) {
            n->sn_state = SN_FAILED;
            snprintf(n->sn_error, sizeof(n->sn_error), "%s", why);
        } else {
            double now = nwsp_mono();

            n->sn_ss = ss;
            n->sn_ch = ch;
            n->sn_rport = rport;
            n->sn_state = SN_STARTING;
            n->sn_deadline = now + sl->sl_spec.timeout;
            n->sn_last_rx = now;
            n->sn_next_probe = now + sl->sl_spec.keepalive / 2;
            n->sn_pumped = 1;
            ssh_wake(sl);
        }
        pthread_cond_broadcast(&sl->sl_cv);
    }
    pthread_mutex_unlock(&sl->sl_mu);
    return NULL;
}

/* ---- tunnels ------------------------------------------------------------- */

/* Starts connecting t to the server, trying addresses from the first-th; 0, or -1. */
static int
ssh_tunnel_connect(struct ssh_launcher *sl, struct ssh_tunnel *t, size_t first)
{
    size_t i;
    int    fd, one = 1;

    if (t->st_fd >= 0) {
        close(t->st_fd);
        t->st_fd = -1;
    }
    for (i = first; i < sl->sl_naddr; i++) {
        fd = socket(sl->sl_addr[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, (struct sockaddr *)&sl->sl_addr[i], sl->sl_addrlen[i]) == 0) {
            t->st_connecting = 0;
        } else if (errno == EINPROGRESS) {
            t->st_connecting = 1;
        } else {
            close(fd);
            continue;
        }
        t->st_fd = fd;
        t->st_ai = i;
        return 0;
    }
    return -1;
}

/* A new tunnel for the forwarded channel ch, linked into n; NULL (ch freed). */
static struct ssh_tunnel *
ssh_tunnel_new(struct ssh_launcher *sl, struct ssh_node *n, ssh_channel ch)
{
    struct ssh_tunnel *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        ssh_channel_free(ch);
        return NULL;
    }
    t->st_ch = ch;
    t->st_fd = -1;
    if (ssh_tunnel_connect(sl, t, 0) != 0) {
        ssh_channel_free(ch);
        free(t);
        return NULL;
    }
    t->st_next = n->sn_tun;
    n->sn_tun = t;
    return t;
}

/* Frees t (closing both ends). */
static void
ssh_tunnel_free(struct ssh_tunnel *t)
{
    if (t->st_fd >= 0)
        close(t->st_fd);
    ssh_channel_free(t->st_ch);
    free(t);
}

/* Moves bytes of t both ways; returns 1 if any moved.  Sets st_dead when done. */
static int
ssh_tunnel_pump(struct ssh_launcher *sl, struct ssh_tunnel *t)
{
    uint32_t  win;
    size_t    n;
    ssize_t   r;
    int       busy = 0, w, e;
    socklen_t el = sizeof(e);

    if (t->st_connecting) {
        if (t->st_revents & (POLLOUT | POLLERR | POLLHUP)) {
            e = 0;
            getsockopt(t->st_fd, SOL_SOCKET, SO_ERROR, &e, &el);
            if (e != 0) {
                if (ssh_tunnel_connect(sl, t, t->st_ai + 1) != 0) {
                    t->st_dead = 1;
                    return 1;
                }
            } else {
                t->st_connecting = 0;
                busy = 1;
            }
        }
    }
    /* server -> node */
    if (!t->st_connecting && !t->st_fd_eof && t->st_downlen < SSH_TUN_BUF &&
        (t->st_revents & (POLLIN | POLLHUP | POLLERR))) {
        r = recv(t->st_fd, t->st_down + t->st_downlen, SSH_TUN_BUF - t->st_downlen, 0);
        if (r > 0) {
            t->st_downlen += (size_t)r;
            busy = 1;
        } else if (r == 0) {
            t->st_fd_eof = 1;
            busy = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            t->st_dead = 1;
            return 1;
        }
    }
    if (t->st_downlen > 0) {
        win = ssh_channel_window_size(t->st_ch);
        n = t->st_downlen < win ? t->st_downlen : win;
        if (n > SSH_WRITE_MAX)
            n = SSH_WRITE_MAX;
        if (n > 0) {
            w = ssh_channel_write(t->st_ch, t->st_down, (uint32_t)n);
            if (w < 0) {
                t->st_dead = 1;
                return 1;
            }
            if (w > 0) {
                memmove(t->st_down, t->st_down + w, t->st_downlen - (size_t)w);
                t->st_downlen -= (size_t)w;
                busy = 1;
            }
        }
    }
    if (t->st_fd_eof && t->st_downlen == 0 && !t->st_eof_sent) {
        ssh_channel_send_eof(t->st_ch);
        t->st_eof_sent = 1;
    }
    /* node -> server */
    if (!t->st_ch_eof && t->st_uplen < SSH_TUN_BUF) {
        r = ssh_channel_read_nonblocking(t->st_ch, t->st_up + t->st_uplen,
                                         (uint32_t)(SSH_TUN_BUF - t->st_uplen), 0);
        if (r > 0) {
            t->st_uplen += (size_t)r;
            busy = 1;
        } else if (r == SSH_EOF || (r < 0 && ssh_channel_is_eof(t->st_ch))) {
            t->st_ch_eof = 1;
            busy = 1;
        } else if (r < 0) {
            t->st_dead = 1;
            return 1;
        }
    }
    if (t->st_uplen > 0 && !t->st_connecting) {
        r = send(t->st_fd, t->st_up, t->st_uplen, MSG_NOSIGNAL);
        if (r > 0) {
            memmove(t->st_up, t->st_up + r, t->st_uplen - (size_t)r);
            t->st_uplen -= (size_t)r;
            busy = 1;
        } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
            t->st_dead = 1;
            return 1;
        }
    }
    if (t->st_ch_eof && t->st_uplen == 0 && !t->st_shut && !t->st_connecting) {
        shutdown(t->st_fd, SHUT_WR);
        t->st_shut = 1;
    }
    /* Done both ways, or the node's side is gone: the server sees the worker leave. */
    if ((t->st_shut && t->st_eof_sent) ||
        (ssh_channel_is_closed(t->st_ch) && t->st_uplen == 0))
        t->st_dead = 1;
    return busy;
}

/* ---- the pump ------------------------------------------------------------ */

/* Index of rank in n's ranks, or -1. */
static long
ssh_rank_index(const struct ssh_node *n, long rank)
{
    size_t i;

    for (i = 0; i < n->sn_nranks; i++)
        if (n->sn_ranks[i] == rank)
            return (long)i;
    return -1;
}

/* Handles one report line of n's node launcher. */
static void
ssh_report(struct ssh_node *n, const char *line)
{
    const char *text = NULL;
    long       *ranks = NULL, rank = -1, pid = -1, k;
    size_t      nr = 0;
    int         again = 0;

    switch (nwsp_node_line(line, &ranks, &nr, &rank, &pid, &again, &text)) {
    case NWSP_NODE_RANKS:
        if (n->sn_ranks != NULL || (n->sn_rank_state = calloc(nr, 1)) == NULL) {
            free(ranks);
            break;
        }
        n->sn_ranks = ranks;
        n->sn_nranks = nr;
        if (n->sn_state == SN_STARTING)
            n->sn_state = SN_RUNNING;
        break;
    case NWSP_NODE_UP:
        if ((k = ssh_rank_index(n, rank)) < 0)
            break;
        if (n->sn_rank_state[k] == RANK_RESTARTING || n->sn_rank_state[k] == RANK_DOWN)
            n->sn_restarts++;
        n->sn_rank_state[k] = RANK_UP;
        n->sn_launched++;
        break;
    case NWSP_NODE_DOWN:
        if ((k = ssh_rank_index(n, rank)) >= 0)
            n->sn_rank_state[k] = again ? RANK_RESTARTING : RANK_DOWN;
        break;
    case NWSP_NODE_ERROR:
        snprintf(n->sn_error, sizeof(n->sn_error), "%s", text);
        break;
    default:
        break;
    }
}

/* Feeds len bytes of n's stream (stdout, or stderr) to its line parser. */
static void
ssh_lines(struct ssh_launcher *sl, struct ssh_node *n, const char *p, size_t len,
          int is_stderr)
{
    char   *buf = is_stderr ? n->sn_err : n->sn_out;
    size_t *bl = is_stderr ? &n->sn_errlen : &n->sn_outlen, i;
    char    line[SSH_LINE_MAX + 64];
    int     l;

    for (i = 0; i < len; i++) {
        if (p[i] != '\n' && *bl < SSH_LINE_MAX - 1) {
            buf[(*bl)++] = p[i];
            continue;
        }
        if (p[i] != '\n')
            continue; /* a line too long: the rest is dropped */
        buf[*bl] = '\0';
        if (!is_stderr) {
            ssh_report(n, buf);
        } else {
            if (*bl > 0)
                snprintf(n->sn_lasterr, sizeof(n->sn_lasterr), "%.199s", buf);
            if (sl->sl_spec.verbose) {
                l = snprintf(line, sizeof(line), "[%s] %s\n", n->sn_label, buf);
                if (l > 0 &&
                    write(2, line,
                          (size_t)l < sizeof(line) ? (size_t)l : sizeof(line) - 1) < 0) {
                    /* stderr is gone: nothing to tell */
                }
            }
        }
        *bl = 0;
    }
}

/* Reads what n's node launcher wrote on one stream; 1 if anything came. */
static int
ssh_read_stream(struct ssh_launcher *sl, struct ssh_node *n, int is_stderr)
{
    char buf[4096];
    int  r, k, busy = 0;
    int *eof = is_stderr ? &n->sn_err_eof : &n->sn_out_eof;

    for (k = 0; k < 16 && !*eof; k++) {
        r = ssh_channel_read_nonblocking(n->sn_ch, buf, sizeof(buf), is_stderr);
        if (r > 0) {
            ssh_lines(sl, n, buf, (size_t)r, is_stderr);
            busy = 1;
            continue;
        }
        if (r == SSH_EOF ||
            (r < 0 && (ssh_channel_is_eof(n->sn_ch) || ssh_channel_is_closed(n->sn_ch))))
            *eof = 1;
        break;
    }
    return busy;
}

/* Ends n's session (pump or, after the pump, the caller): state st, why. */
static void
ssh_node_end(struct ssh_node *n, enum ssh_state st, const char *why)
{
    struct ssh_tunnel *t;
    size_t             i;

    while ((t = n->sn_tun) != NULL) {
        n->sn_tun = t->st_next;
        ssh_tunnel_free(t);
    }
    if (n->sn_ch != NULL)
        ssh_channel_free(n->sn_ch);
    if (n->sn_ss != NULL) {
        ssh_disconnect(n->sn_ss);
        ssh_free(n->sn_ss);
    }
    n->sn_ch = NULL;
    n->sn_ss = NULL;
    n->sn_pumped = 0;
    n->sn_state = st;
    for (i = 0; i < n->sn_nranks; i++)
        n->sn_rank_state[i] = RANK_DOWN;
    if (why != NULL && n->sn_error[0] == '\0')
        snprintf(n->sn_error, sizeof(n->sn_error), "%s", why);
}

/* Why the node launcher on n ended before it reported its ranks. */
static void
ssh_start_failure(struct ssh_launcher *sl, struct ssh_node *n, int status, char *why,
                  size_t len)
{
    if (n->sn_error[0] != '\0')
        snprintf(why, len, "%s", n->sn_error);
    else if (status == 127)
        snprintf(why, len, "nws-worker not found on the node (%.40s): %.100s",
                 sl->sl_worker, n->sn_lasterr[0] ? n->sn_lasterr : "exit status 127");
    else if (status == 126)
        snprintf(why, len, "cannot run nws-worker on the node (%.40s): %.100s",
                 sl->sl_worker, n->sn_lasterr[0] ? n->sn_lasterr : "exit status 126");
    else
        snprintf(why, len, "the node launcher exited with status %d: %.100s", status,
                 n->sn_lasterr[0] ? n->sn_lasterr : "no message");
}

/* Works on node n (pumped) at time now; 1 if anything moved. */
static int
ssh_node_pass(struct ssh_launcher *sl, struct ssh_node *n, double now)
{
    struct ssh_tunnel **tp, *t;
    ssh_channel         fch;
    char                why[SSH_WHY_MAX], *orig = NULL;
    int                 busy = 0, dport = 0, oport = 0, st;
    double              ka = sl->sl_spec.keepalive;

    busy |= ssh_read_stream(sl, n, 0);
    busy |= ssh_read_stream(sl, n, 1);
    if (sl->sl_remote_host == NULL) {
        while ((fch = ssh_channel_open_forward_port(n->sn_ss, 0, &dport, &orig,
                                                    &oport)) != NULL) {
            ssh_string_free_char(orig);
            orig = NULL;
            ssh_tunnel_new(sl, n, fch);
            busy = 1;
        }
    }
    for (tp = &n->sn_tun; (t = *tp) != NULL;) {
        busy |= ssh_tunnel_pump(sl, t);
        if (t->st_dead) {
            *tp = t->st_next;
            ssh_tunnel_free(t);
        } else {
            tp = &t->st_next;
        }
    }
    if (n->sn_rx.in_bytes != n->sn_rx_seen) {
        n->sn_rx_seen = n->sn_rx.in_bytes;
        n->sn_last_rx = now;
    }
    if (ka > 0 && now >= n->sn_next_probe) {
        ssh_send_keepalive(n->sn_ss);
        n->sn_next_probe = now + ka / 2;
    }
    if (n->sn_stop && !n->sn_eof_sent && now >= n->sn_stop_at) {
        /* The node launcher ends its workers when its input ends. */
        ssh_channel_send_eof(n->sn_ch);
        n->sn_eof_sent = 1;
        n->sn_kill_at = now + SSH_STOP_WAIT_S;
    }

    if (!ssh_is_connected(n->sn_ss) ||
        (ssh_get_status(n->sn_ss) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) {
        snprintf(why, sizeof(why), "connection lost: %s", ssh_get_error(n->sn_ss));
        if (n->sn_state == SN_STARTING)
            ssh_node_end(n, SN_FAILED, why);
        else
            ssh_node_end(n, n->sn_stop ? SN_STOPPED : SN_LOST, n->sn_stop ? NULL : why);
        return 1;
    }
    if (n->sn_out_eof && n->sn_err_eof &&
        (ssh_channel_is_closed(n->sn_ch) ||
         ssh_channel_get_exit_status(n->sn_ch) != -1)) {
        st = ssh_channel_get_exit_status(n->sn_ch);
        n->sn_exit = st;
        if (n->sn_state == SN_STARTING) {
            ssh_start_failure(sl, n, st, why, sizeof(why));
            ssh_node_end(n, SN_FAILED, why);
        } else if (n->sn_stop) {
            ssh_node_end(n, SN_STOPPED, NULL);
        } else {
            snprintf(why, sizeof(why), "the node launcher exited with status %d%s%.100s",
                     st, n->sn_lasterr[0] ? ": " : "", n->sn_lasterr);
            ssh_node_end(n, SN_EXITED, st != 0 ? why : NULL);
        }
        return 1;
    }
    if (ka > 0 && now - n->sn_last_rx > SSH_LOST_PROBES * ka) {
        snprintf(why, sizeof(why),
                 "no answer for %.1f s: the node or its network is down",
                 now - n->sn_last_rx);
        if (n->sn_state == SN_STARTING)
            ssh_node_end(n, SN_FAILED, why);
        else
            ssh_node_end(n, n->sn_stop ? SN_STOPPED : SN_LOST, n->sn_stop ? NULL : why);
        return 1;
    }
    if (n->sn_state == SN_STARTING && now > n->sn_deadline) {
        snprintf(why, sizeof(why), "the node launcher said nothing within %.0f s%s%.100s",
                 sl->sl_spec.timeout, n->sn_lasterr[0] ? ": " : "", n->sn_lasterr);
        ssh_node_end(n, SN_FAILED, why);
        return 1;
    }
    if (n->sn_eof_sent && now >= n->sn_kill_at) {
        ssh_node_end(n, SN_STOPPED, NULL);
        return 1;
    }
    return busy;
}

/* Fills the poll set from the pumped nodes; returns its size (sl_mu held). */
static size_t
ssh_pump_fds(struct ssh_launcher *sl)
{
    struct ssh_tunnel *t;
    size_t             i, k = 0, need = 1;
    void              *p;
    int                pf;

    for (i = 0; i < sl->sl_nn; i++) {
        if (!sl->sl_nodes[i]->sn_pumped)
            continue;
        need++;
        for (t = sl->sl_nodes[i]->sn_tun; t != NULL; t = t->st_next)
            need++;
    }
    if (need > sl->sl_pcap) {
        size_t cap = need + 16;

        if ((p = realloc(sl->sl_pfd, cap * sizeof(*sl->sl_pfd))) == NULL)
            return 0;
        sl->sl_pfd = p;
        if ((p = realloc(sl->sl_pobj, cap * sizeof(*sl->sl_pobj))) == NULL)
            return 0;
        sl->sl_pobj = p;
        if ((p = realloc(sl->sl_pkind, cap)) == NULL)
            return 0;
        sl->sl_pkind = p;
        sl->sl_pcap = cap;
    }
    sl->sl_pfd[k] = (struct pollfd){.fd = sl->sl_wake[0], .events = POLLIN};
    sl->sl_pkind[k++] = 0;
    for (i = 0; i < sl->sl_nn; i++) {
        struct ssh_node *n = sl->sl_nodes[i];

        if (!n->sn_pumped)
            continue;
        n->sn_revents = 0;
        pf = ssh_get_poll_flags(n->sn_ss);
        sl->sl_pfd[k] = (struct pollfd){
            .fd = ssh_get_fd(n->sn_ss),
            .events = (short)(POLLIN | ((pf & SSH_WRITE_PENDING) ? POLLOUT : 0))};
        sl->sl_pobj[k] = n;
        sl->sl_pkind[k++] = 1;
        for (t = n->sn_tun; t != NULL; t = t->st_next) {
            t->st_revents = 0;
            sl->sl_pfd[k] = (struct pollfd){.fd = t->st_fd, .events = 0};
            if (t->st_connecting)
                sl->sl_pfd[k].events = POLLOUT;
            else
                sl->sl_pfd[k].events =
                    (short)((!t->st_fd_eof && t->st_downlen < SSH_TUN_BUF ? POLLIN : 0) |
                            (t->st_uplen > 0 ? POLLOUT : 0));
            sl->sl_pobj[k] = t;
            sl->sl_pkind[k++] = 2;
        }
    }
    return k;
}

/* The pump thread. */
static void *
ssh_pump_main(void *arg)
{
    struct ssh_launcher *sl = arg;
    char                 buf[64];
    size_t               i, nfds;
    int                  busy = 0, live, rc;
    double               now;

    pthread_mutex_lock(&sl->sl_mu);
    for (;;) {
        for (i = 0, live = 0; i < sl->sl_nn; i++)
            live += sl->sl_nodes[i]->sn_pumped;
        if (sl->sl_quit || (live == 0 && sl->sl_stopping))
            break;
        nfds = ssh_pump_fds(sl);
        pthread_mutex_unlock(&sl->sl_mu);
        rc = poll(sl->sl_pfd, (nfds_t)nfds, busy ? 0 : SSH_TICK_MS);
        pthread_mutex_lock(&sl->sl_mu);
        for (i = 0; rc > 0 && i < nfds; i++) {
            if (sl->sl_pkind[i] == 1)
                ((struct ssh_node *)sl->sl_pobj[i])->sn_revents = sl->sl_pfd[i].revents;
            else if (sl->sl_pkind[i] == 2)
                ((struct ssh_tunnel *)sl->sl_pobj[i])->st_revents = sl->sl_pfd[i].revents;
        }
        while (read(sl->sl_wake[0], buf, sizeof(buf)) > 0)
            ;
        now = nwsp_mono();
        busy = 0;
        for (i = 0; i < sl->sl_nn; i++)
            if (sl->sl_nodes[i]->sn_pumped)
                busy |= ssh_node_pass(sl, sl->sl_nodes[i], now);
        pthread_cond_broadcast(&sl->sl_cv);
    }
    pthread_mutex_unlock(&sl->sl_mu);
    return NULL;
}

/* ---- the launcher -------------------------------------------------------- */

static void ssh_free_launcher(struct nwsp_launcher *l);

/* A copy of s, or NULL if s is NULL; sets *bad when out of memory. */
static char *
ssh_dup(const char *s, int *bad)
{
    char *c;

    if (s == NULL)
        return NULL;
    if ((c = strdup(s)) == NULL)
        *bad = 1;
    return c;
}

/* Resolves the server as the master reaches it (the tunnel's far end); 0, or -1. */
static int
ssh_resolve(struct ssh_launcher *sl, const char *host, int port, nws_error *err)
{
    struct addrinfo hints, *res, *ai;
    char            num[16];
    size_t          n = 0;
    int             rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(num, sizeof(num), "%d", port);
    if ((rc = getaddrinfo(host, num, &hints, &res)) != 0) {
        nwsp_err_set(err, NWS_ERR_CONNECT, 0, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next)
        n++;
    sl->sl_addr = calloc(n, sizeof(*sl->sl_addr));
    sl->sl_addrlen = calloc(n, sizeof(*sl->sl_addrlen));
    if (sl->sl_addr == NULL || sl->sl_addrlen == NULL) {
        freeaddrinfo(res);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(*sl->sl_addr))
            continue;
        memcpy(&sl->sl_addr[sl->sl_naddr], ai->ai_addr, ai->ai_addrlen);
        sl->sl_addrlen[sl->sl_naddr++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    return 0;
}

/* Makes an ssh launcher (no thread yet); NULL on failure. */
static struct nwsp_launcher *
ssh_create(const struct nwsp_launch_spec *spec, nws_error *err)
{
    struct ssh_launcher *sl;
    size_t               i, n = 0;
    int                  bad = 0;

    pthread_once(&ssh_once, ssh_init_once);
    if (spec->nodes == NULL || spec->nodes->nl_n == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the ssh launcher needs a list of nodes");
        return NULL;
    }
    if ((sl = calloc(1, sizeof(*sl))) == NULL)
        goto nomem;
    sl->sl_base.ops = &nwsp_launch_ssh;
    sl->sl_wake[0] = sl->sl_wake[1] = -1;
    pthread_mutex_init(&sl->sl_mu, NULL);
    pthread_mutex_init(&sl->sl_kh_mu, NULL);
    pthread_cond_init(&sl->sl_cv, NULL);
    nwsp_nodes_init(&sl->sl_list);
    sl->sl_spec = *spec;
    sl->sl_ws = ssh_dup(spec->ws_name, &bad);
    sl->sl_worker = ssh_dup(spec->worker_path ? spec->worker_path : "nws-worker", &bad);
    sl->sl_cwd = ssh_dup(spec->working_dir, &bad);
    sl->sl_remote_host = ssh_dup(spec->remote_host, &bad);
    sl->sl_user = ssh_dup(spec->ssh_user, &bad);
    sl->sl_config = ssh_dup(spec->ssh_config, &bad);
    sl->sl_identity = ssh_dup(spec->ssh_identity, &bad);
    sl->sl_known_hosts = ssh_dup(spec->known_hosts, &bad);
    sl->sl_secret = ssh_dup(spec->secret, &bad);
    while (spec->env != NULL && spec->env[n] != NULL)
        n++;
    if ((sl->sl_env = calloc(n + 1, sizeof(*sl->sl_env))) == NULL)
        bad = 1;
    for (i = 0; !bad && i < n; i++)
        sl->sl_env[i] = ssh_dup(spec->env[i], &bad);
    for (i = 0; !bad && i < spec->nodes->nl_n; i++)
        if (nwsp_nodes_add(&sl->sl_list, spec->nodes->nl_v[i].nd_host,
                           spec->nodes->nl_v[i].nd_user, spec->nodes->nl_v[i].nd_slots,
                           err) != 0)
            bad = 2;
    if (bad == 1)
        goto nomem;
    if (bad)
        goto fail;
    sl->sl_spec.ws_name = sl->sl_ws;
    sl->sl_spec.worker_path = sl->sl_worker;
    sl->sl_spec.working_dir = sl->sl_cwd;
    sl->sl_spec.env = (const char *const *)sl->sl_env;
    sl->sl_spec.nodes = &sl->sl_list;
    sl->sl_spec.remote_host = sl->sl_remote_host;
    sl->sl_spec.ssh_user = sl->sl_user;
    sl->sl_spec.ssh_config = sl->sl_config;
    sl->sl_spec.ssh_identity = sl->sl_identity;
    sl->sl_spec.known_hosts = sl->sl_known_hosts;
    sl->sl_spec.secret = sl->sl_secret;
    if (sl->sl_spec.remote_port <= 0)
        sl->sl_spec.remote_port = spec->port;
    sl->sl_spec.host = NULL; /* only the resolved addresses are kept */
    if (sl->sl_spec.max_startups < 1)
        sl->sl_spec.max_startups = 1;
    if (!(sl->sl_spec.timeout > 0))
        sl->sl_spec.timeout = 30;
    if (sl->sl_remote_host == NULL && ssh_resolve(sl, spec->host, spec->port, err) != 0)
        goto fail;
    if (pipe2(sl->sl_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "pipe: %s", strerror(errno));
        goto fail;
    }
    return &sl->sl_base;
nomem:
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
fail:
    if (sl != NULL)
        ssh_free_launcher(&sl->sl_base);
    return NULL;
}

/* Starts a thread with every signal blocked (they belong to the program); 0, or errno. */
static int
ssh_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int      rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Adds a node to start (sl_mu held); 0, or -1. */
static int
ssh_add_node(struct ssh_launcher *sl, const char *host, const char *user, long want,
             nws_error *err)
{
    struct ssh_node *n, **v;

    if (sl->sl_nn == sl->sl_cap) {
        size_t cap = sl->sl_cap ? sl->sl_cap * 2 : 16;

        if ((v = realloc(sl->sl_nodes, cap * sizeof(*v))) == NULL)
            goto nomem;
        sl->sl_nodes = v;
        sl->sl_cap = cap;
    }
    if ((n = calloc(1, sizeof(*n))) == NULL)
        goto nomem;
    n->sn_host = strdup(host);
    n->sn_user = user != NULL ? strdup(user) : NULL;
    if (asprintf(&n->sn_label, "%s%s%s", user ? user : "", user ? "@" : "", host) < 0)
        n->sn_label = NULL;
    if (n->sn_host == NULL || (user != NULL && n->sn_user == NULL) ||
        n->sn_label == NULL) {
        free(n->sn_host);
        free(n->sn_user);
        free(n->sn_label);
        free(n);
        goto nomem;
    }
    n->sn_want = want;
    n->sn_exit = -1;
    n->sn_state = SN_QUEUED;
    sl->sl_nodes[sl->sl_nn++] = n;
    return 0;
nomem:
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return -1;
}

/* 1 while n is still on its way to running or failing. */
static int
ssh_pending(const struct ssh_node *n)
{
    return n->sn_state == SN_QUEUED || n->sn_state == SN_CONNECTING ||
           n->sn_state == SN_STARTING;
}

/* Starts the workers of every listed node (node NULL), or n on node. */
static int
ssh_start(struct nwsp_launcher *l, const char *node, int n, nws_error *err)
{
    struct ssh_launcher *sl = (struct ssh_launcher *)l;
    struct ssh_node     *nd;
    pthread_t           *threads = NULL;
    const char          *at;
    char                 user[NWSP_NODE_NAME_MAX + 1];
    size_t               first, i, count, nthreads = 0;
    long                 started = 0, failed = 0;
    int                  rc = 0;

    pthread_mutex_lock(&sl->sl_mu);
    if (sl->sl_stopping) {
        pthread_mutex_unlock(&sl->sl_mu);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the launcher is stopping");
        return -1;
    }
    first = sl->sl_nn;
    if (node == NULL) {
        for (i = 0; i < sl->sl_list.nl_n && rc == 0; i++)
            rc =
                ssh_add_node(sl, sl->sl_list.nl_v[i].nd_host, sl->sl_list.nl_v[i].nd_user,
                             sl->sl_list.nl_v[i].nd_slots, err);
    } else if (n > 0) {
        if ((at = strchr(node, '@')) != NULL && (size_t)(at - node) < sizeof(user)) {
            snprintf(user, sizeof(user), "%.*s", (int)(at - node), node);
            rc = ssh_add_node(sl, at + 1, user, n, err);
        } else {
            rc = ssh_add_node(sl, node, NULL, n, err);
        }
    }
    if (rc == 0 && !sl->sl_pump_running) {
        if ((rc = ssh_thread(&sl->sl_pump, ssh_pump_main, sl)) != 0) {
            nwsp_err_set(err, NWS_ERR_IO, 0, "cannot start the ssh thread: %s",
                         strerror(rc));
            rc = -1;
        } else {
            sl->sl_pump_running = 1;
        }
    }
    if (rc != 0) {
        for (i = first; i < sl->sl_nn; i++)
            if (sl->sl_nodes[i]->sn_state == SN_QUEUED) {
                sl->sl_nodes[i]->sn_state = SN_FAILED;
                snprintf(sl->sl_nodes[i]->sn_error, SSH_WHY_MAX, "not started");
            }
        pthread_mutex_unlock(&sl->sl_mu);
        return -1;
    }
    count = sl->sl_nn - first;
    pthread_mutex_unlock(&sl->sl_mu);

    /* At most max_startups handshakes at once; each thread takes the next node. */
    nthreads = count < (size_t)sl->sl_spec.max_startups
                   ? count
                   : (size_t)sl->sl_spec.max_startups;
    if (nthreads > 0 && (threads = calloc(nthreads, sizeof(*threads))) == NULL)
        nthreads = 0;
    for (i = 0; i < nthreads; i++)
        if (ssh_thread(&threads[i], ssh_hs_main, sl) != 0)
            break;
    nthreads = i;
    if (nthreads == 0)
        ssh_hs_main(sl); /* no thread at all: one at a time, here */

    pthread_mutex_lock(&sl->sl_mu);
    for (;;) {
        for (i = first; i < first + count && !ssh_pending(sl->sl_nodes[i]); i++)
            ;
        if (i == first + count)
            break;
        pthread_cond_wait(&sl->sl_cv, &sl->sl_mu);
    }
    pthread_mutex_unlock(&sl->sl_mu);
    for (i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    free(threads);

    pthread_mutex_lock(&sl->sl_mu);
    nd = NULL;
    for (i = first; i < first + count; i++) {
        if (sl->sl_nodes[i]->sn_state == SN_FAILED) {
            if (failed++ == 0)
                nd = sl->sl_nodes[i];
        } else {
            started++;
        }
    }
    if (failed > 0 && (!sl->sl_spec.partial || started == 0)) {
        if (failed > 1)
            nwsp_err_set(err, NWS_ERR_CONNECT, 0,
                         "node %s: %s (and %ld more nodes failed)", nd->sn_label,
                         nd->sn_error, failed - 1);
        else
            nwsp_err_set(err, NWS_ERR_CONNECT, 0, "node %s: %s", nd->sn_label,
                         nd->sn_error);
        rc = -1;
    }
    pthread_mutex_unlock(&sl->sl_mu);
    return rc;
}

/* Fills *st from the node launchers' reports. */
static void
ssh_status(struct nwsp_launcher *l, struct nwsp_launch_status *st)
{
    struct ssh_launcher *sl = (struct ssh_launcher *)l;
    struct ssh_node     *n;
    size_t               i, k;

    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&sl->sl_mu);
    for (i = 0; i < sl->sl_nn; i++) {
        n = sl->sl_nodes[i];
        st->launched += n->sn_launched;
        st->restarts += n->sn_restarts;
        for (k = 0; k < n->sn_nranks; k++)
            st->running += n->sn_rank_state[k] != RANK_DOWN;
        if (n->sn_state != SN_FAILED)
            st->wanted += n->sn_want;
    }
    pthread_mutex_unlock(&sl->sl_mu);
}

/* The nodes as JSON (see launch.h). */
static json_t *
ssh_nodes(struct nwsp_launcher *l)
{
    struct ssh_launcher *sl = (struct ssh_launcher *)l;
    struct ssh_node     *n;
    json_t              *arr = json_array(), *o, *ranks, *alive;
    size_t               i, k;
    long                 running;

    if (arr == NULL)
        return NULL;
    pthread_mutex_lock(&sl->sl_mu);
    for (i = 0; i < sl->sl_nn; i++) {
        n = sl->sl_nodes[i];
        ranks = json_array();
        alive = json_array();
        for (k = 0, running = 0; k < n->sn_nranks && ranks && alive; k++) {
            json_array_append_new(ranks, json_integer(n->sn_ranks[k]));
            if (n->sn_rank_state[k] == RANK_UP) {
                json_array_append_new(alive, json_integer(n->sn_ranks[k]));
                running++;
            }
        }
        o = json_pack("{s:s, s:s, s:I, s:I, s:o*, s:o*}", "node", n->sn_label, "state",
                      ssh_state_names[n->sn_state], "workers", (json_int_t)n->sn_want,
                      "running", (json_int_t)running, "ranks", ranks, "alive", alive);
        if (o != NULL && n->sn_error[0] != '\0')
            json_object_set_new(o, "error", json_string(n->sn_error));
        if (o != NULL && n->sn_exit >= 0)
            json_object_set_new(o, "exit", json_integer(n->sn_exit));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&sl->sl_mu);
    return arr;
}

/* Ends every node's workers; returns how many nodes had to be told to stop. */
static int
ssh_stop(struct nwsp_launcher *l, int grace_ms)
{
    struct ssh_launcher *sl = (struct ssh_launcher *)l;
    struct ssh_node     *n;
    struct timespec      ts;
    double               now = nwsp_mono(), grace = grace_ms > 0 ? grace_ms / 1000.0 : 0;
    size_t               i;
    int                  live, told = 0;

    pthread_mutex_lock(&sl->sl_mu);
    sl->sl_stopping = 1;
    for (i = 0; i < sl->sl_nn; i++) {
        n = sl->sl_nodes[i];
        if (n->sn_pumped && !n->sn_stop) {
            n->sn_stop = 1;
            n->sn_stop_at = now + grace;
        }
    }
    ssh_wake(sl);
    /* The pump ends every session within grace + SSH_STOP_WAIT_S: wait a bit longer. */
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(grace + SSH_STOP_WAIT_S) + 2;
    for (;;) {
        for (i = 0, live = 0; i < sl->sl_nn; i++)
            live += sl->sl_nodes[i]->sn_pumped;
        if (live == 0 || !sl->sl_pump_running ||
            pthread_cond_timedwait(&sl->sl_cv, &sl->sl_mu, &ts) == ETIMEDOUT)
            break;
    }
    for (i = 0; i < sl->sl_nn; i++)
        told += sl->sl_nodes[i]->sn_eof_sent;
    sl->sl_quit = 1; /* whatever is left is ended below, once the pump is gone */
    ssh_wake(sl);
    pthread_mutex_unlock(&sl->sl_mu);
    if (sl->sl_pump_running) {
        pthread_join(sl->sl_pump, NULL);
        sl->sl_pump_running = 0;
    }
    for (i = 0; i < sl->sl_nn; i++) {
        n = sl->sl_nodes[i];
        if (n->sn_ss != NULL)
            ssh_node_end(n, SN_STOPPED, NULL);
        /* Its workers saw the workspace go before we got here: stopped all the same. */
        if (n->sn_state == SN_EXITED && n->sn_error[0] == '\0')
            n->sn_state = SN_STOPPED;
    }
    return told;
}

/* Stops if needed and frees. */
static void
ssh_free_launcher(struct nwsp_launcher *l)
{
    struct ssh_launcher *sl = (struct ssh_launcher *)l;
    struct ssh_node     *n;
    size_t               i;

    if (sl == NULL)
        return;
    ssh_stop(l, 0);
    for (i = 0; i < sl->sl_nn; i++) {
        n = sl->sl_nodes[i];
        free(n->sn_host);
        free(n->sn_user);
        free(n->sn_label);
        free(n->sn_ranks);
        free(n->sn_rank_state);
        free(n);
    }
    free(sl->sl_nodes);
    if (sl->sl_wake[0] >= 0)
        close(sl->sl_wake[0]);
    if (sl->sl_wake[1] >= 0)
        close(sl->sl_wake[1]);
    for (i = 0; sl->sl_env != NULL && sl->sl_env[i] != NULL; i++)
        free(sl->sl_env[i]);
    free(sl->sl_env);
    free(sl->sl_ws);
    free(sl->sl_worker);
    free(sl->sl_cwd);
    free(sl->sl_remote_host);
    free(sl->sl_user);
    free(sl->sl_config);
    free(sl->sl_identity);
    free(sl->sl_known_hosts);
    if (sl->sl_secret != NULL) {
        explicit_bzero(sl->sl_secret, strlen(sl->sl_secret));
        free(sl->sl_secret);
    }
    free(sl->sl_addr);
    free(sl->sl_addrlen);
    free(sl->sl_pfd);
    free(sl->sl_pobj);
    free(sl->sl_pkind);
    nwsp_nodes_free(&sl->sl_list);
    pthread_mutex_destroy(&sl->sl_mu);
    pthread_mutex_destroy(&sl->sl_kh_mu);
    pthread_cond_destroy(&sl->sl_cv);
    free(sl);
}

const struct nwsp_launcher_ops nwsp_launch_ssh = {
    .name = "ssh",
    .remote = 1,
    .create = ssh_create,
    .start = ssh_start,
    .status = ssh_status,
    .nodes = ssh_nodes,
    .stop = ssh_stop,
    .free = ssh_free_launcher,
};
