/*
 * slurmtest.c -- munged, slurmctld and slurmd in network namespaces (see
 * slurmtest.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slurmtest.h"

#define ST_LOCK      "/tmp/nwstest-slurm.lock"
#define ST_UP_WAIT_S 30

static int st_lock_fd = -1;

/* The daemon's path: /usr/sbin/NAME, where Debian puts it, else NAME ($PATH). */
static const char *
st_daemon(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "/usr/sbin/%s", name);
    return access(buf, X_OK) == 0 ? buf : name;
}

/* 1 if program is on $PATH or at its path. */
static int
st_have(const char *program)
{
    return sshtest_sh("command -v %s >/dev/null 2>&1", program) == 0;
}

int
slurmtest_available(char *why, size_t len)
{
    static const char *const progs[][2] = {
        {"slurmctld", "slurmctld"}, {"slurmd", "slurmd"}, {"sbatch", "slurm-client"},
        {"munged", "munge"},        {"unmunge", "munge"}, {"ip", "iproute2"},
    };
    size_t i;

    if (geteuid() != 0) {
        snprintf(why, len, "needs root (network namespaces, slurmd runs jobs as root)");
        return 0;
    }
    for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        /* The daemons live in /usr/sbin, which a user's PATH may lack. */
        if (!st_have(progs[i][0]) &&
            sshtest_sh("test -x /usr/sbin/%s", progs[i][0]) != 0) {
            snprintf(why, len, "%s is not installed (Debian: %s)", progs[i][0],
                     progs[i][1]);
            return 0;
        }
    }
    if (!sshtest_available(why, len))
        return 0;
    if (sshtest_sh("ip netns list >/dev/null 2>&1") != 0) {
        snprintf(why, len, "ip netns does not work here");
        return 0;
    }
    return 1;
}

void
slurmtest_cleanup(void)
{
    sshtest_netns_cleanup("nwsl-");
}

/* Writes text to path; 0, or -1. */
static int
st_write(const char *path, const char *text, mode_t mode)
{
    int    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text);

    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return close(fd);
}

/* Starts argv as a child that dies with us, output to log; its pid, or -1. */
static pid_t
st_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    int   fd;

    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if ((fd = open("/dev/null", O_RDONLY)) >= 0)
        dup2(fd, 0);
    if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

/* Picks a /24 of 10.214.0.0/16 that nothing here uses; the third byte, or -1. */
static int
st_pick_net(void)
{
    int x;

    for (x = 61; x < 250; x++)
        if (sshtest_sh("ip -4 -o addr show | grep -q ' 10\\.214\\.%d\\.' || "
                       "ip -4 route show | grep -q '^10\\.214\\.%d\\.'",
                       x, x) != 0)
            return x;
    return -1;
}

/* The munge key: 1 KiB of random bytes, as mungekey makes it. */
static int
st_munge_key(const char *path)
{
    unsigned char buf[1024];
    int           in = open("/dev/urandom", O_RDONLY | O_CLOEXEC), out;

    if (in < 0)
        return -1;
    if (read(in, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
        close(in);
        return -1;
    }
    close(in);
    if ((out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400)) < 0)
        return -1;
    if (write(out, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
        close(out);
        return -1;
    }
    return close(out);
}

/* slurm.conf: every path under c->dir, ports of our own, no cgroups. */
static int
st_conf(struct slurmtest *c, int ctld_port)
{
    char text[4096], host[256];

    if (gethostname(host, sizeof(host) - 1) != 0)
        return -1;
    host[sizeof(host) - 1] = '\0';
    host[strcspn(host, ".")] = '\0'; /* slurmctld compares the short name */
    snprintf(
        text, sizeof(text),
        "# written by tests/slurmtest.c\n"
        "ClusterName=nwstest\n"
        /* slurmctld runs only where the host name matches; the nodes find it here. */
        "SlurmctldHost=%s(%s)\n"
        "SlurmctldPort=%d\n"
        /* Each slurmd has its own namespace, so they may share a port. */
        "SlurmdPort=6818\n"
        "SlurmUser=root\n"
        "SlurmdUser=root\n"
        "AuthType=auth/munge\n"
        "CredType=cred/munge\n"
        "AuthInfo=socket=%s/munge/socket\n"
        "StateSaveLocation=%s/state\n"
        "SlurmdSpoolDir=%s/spool/%%n\n"
        "SlurmctldPidFile=%s/slurmctld.pid\n"
        "SlurmdPidFile=%s/spool/%%n.pid\n"
        "SlurmctldLogFile=%s/log/slurmctld.log\n"
        "SlurmdLogFile=%s/log/slurmd.%%n.log\n"
        "MailProg=/bin/true\n"
        "PlugStackConfig=/dev/null\n"
        /* No cgroups, no accounting, no MPI plugin: plain processes. */
        "ProctrackType=proctrack/linuxproc\n"
        "TaskPlugin=task/none\n"
        "JobAcctGatherType=jobacct_gather/none\n"
        "AccountingStorageType=accounting_storage/none\n"
        "JobCompType=jobcomp/none\n"
        "SwitchType=switch/none\n"
        "MpiDefault=none\n"
        "SchedulerType=sched/builtin\n"
        /* Whole nodes: -N4 gives 4 nodes x SLURMTEST_CPUS tasks. */
        "SelectType=select/linear\n"
        "ReturnToService=2\n"
        "SlurmctldTimeout=10\n"
        "SlurmdTimeout=10\n"
        "InactiveLimit=0\n"
        "MinJobAge=2\n"
        /* scancel: SIGTERM, then SIGKILL 2 s later. */
        "KillWait=2\n"
        "Waittime=0\n"
        "SchedulerParameters=sched_interval=1\n"
        /* The nodes claim SLURMTEST_CPUS whatever this machine has. */
        "SlurmdParameters=config_overrides\n"
        "NodeName=nwsl-n[1-%d] NodeAddr=10.214.%d.[11-%d] CPUs=%d State=UNKNOWN\n"
        "PartitionName=nwstest Nodes=nwsl-n[1-%d] Default=YES MaxTime=10 State=UP\n",
        host, c->bridge_ip, ctld_port, c->dir, c->dir, c->dir, c->dir, c->dir, c->dir,
        c->dir, SLURMTEST_NODES, c->net, 10 + SLURMTEST_NODES, SLURMTEST_CPUS,
        SLURMTEST_NODES);
    return st_write(c->conf, text, 0644);
}

/* The last lines of a log, into why. */
static void
st_why_log(char *why, size_t len, const char *what, const char *log)
{
    char   buf[4096] = "";
    FILE  *fp = fopen(log, "r");
    long   size;
    size_t n;

    if (fp != NULL) {
        fseek(fp, 0, SEEK_END);
        size = ftell(fp);
        fseek(fp, size > 300 ? size - 300 : 0, SEEK_SET);
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
    }
    snprintf(why, len, "%s: ...%s", what, buf);
}

int
slurmtest_up(struct slurmtest *c, char *why, size_t len)
{
    char        path[256], sock[256], key[256], pid[256], log[256], seed[256], port[16];
    char        cmd[1024], alias[24], mbuf[64], prog[64];
    double      t0 = sshtest_now(), deadline;
    int         i, ctld_port;
    const char *munged_path = st_daemon("munged", mbuf, sizeof(mbuf));
    const char *munged[] = {
        munged_path,  "-F", "-f",         "--socket", sock,          "--key-file", key,
        "--pid-file", pid,  "--log-file", log,        "--seed-file", seed,         NULL};

    memset(c, 0, sizeof(*c));
    c->owner = getpid();
    st_lock_fd = open(ST_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    for (deadline = t0 + 180;
         st_lock_fd >= 0 && flock(st_lock_fd, LOCK_EX | LOCK_NB) != 0; usleep(100000))
        if (sshtest_now() > deadline) {
            snprintf(why, len, "another run holds %s", ST_LOCK);
            return -1;
        }
    slurmtest_cleanup();
    snprintf(c->dir, sizeof(c->dir), "/tmp/nwstest-slurm.XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        snprintf(why, len, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    chmod(c->dir, 0755);
    snprintf(c->conf, sizeof(c->conf), "%s/slurm.conf", c->dir);
    if (sshtest_sh("cd '%s' && mkdir -m 700 munge && mkdir state spool log jobs",
                   c->dir) != 0) {
        snprintf(why, len, "cannot make the directories in %s", c->dir);
        return -1;
    }
    for (i = 0; i < SLURMTEST_NODES; i++) {
        snprintf(c->node[i], sizeof(c->node[i]), "nwsl-n%d", i + 1);
        snprintf(path, sizeof(path), "%s/spool/%s", c->dir, c->node[i]);
        mkdir(path, 0755);
    }

    /* The network: a bridge here, a namespace per node. */
    if ((c->net = st_pick_net()) < 0) {
        snprintf(why, len, "no free /24 in 10.214.0.0/16");
        return -1;
    }
    snprintf(c->bridge_ip, sizeof(c->bridge_ip), "10.214.%d.1", c->net);
    if (sshtest_sh("ip link add nwsl-br type bridge && ip link set nwsl-br up && "
                   "ip addr add %s/24 dev nwsl-br",
                   c->bridge_ip) != 0) {
        snprintf(why, len, "cannot make the bridge nwsl-br");
        return -1;
    }
    for (i = 0; i < SLURMTEST_NODES; i++) {
        snprintf(c->node_ip[i], sizeof(c->node_ip[i]), "10.214.%d.%d", c->net, 11 + i);
        if (sshtest_sh("ip netns add %s && ip -n %s link set lo up && "
                       "ip link add nwsl-v%d type veth peer name eth0 netns %s && "
                       "ip link set nwsl-v%d master nwsl-br up && "
                       "ip -n %s addr add %s/24 dev eth0 && ip -n %s link set eth0 up",
                       c->node[i], c->node[i], i + 1, c->node[i], i + 1, c->node[i],
                       c->node_ip[i], c->node[i]) != 0) {
            snprintf(why, len, "cannot make the namespace %s", c->node[i]);
            return -1;
        }
    }

    /* munged: one key, one socket, every node uses it through the file system. */
    snprintf(sock, sizeof(sock), "%s/munge/socket", c->dir);
    snprintf(key, sizeof(key), "%s/munge/munge.key", c->dir);
    snprintf(pid, sizeof(pid), "%s/munge/munged.pid", c->dir);
    snprintf(log, sizeof(log), "%s/log/munged.log", c->dir);
    snprintf(seed, sizeof(seed), "%s/munge/munged.seed", c->dir);
    if (st_munge_key(key) != 0) {
        snprintf(why, len, "cannot write the munge key");
        return -1;
    }
    /* -f: our socket's directory is private, which munged only warns about. */
    if ((c->munged = st_spawn(munged, log)) < 0) {
        snprintf(why, len, "cannot start munged");
        return -1;
    }
    for (deadline = sshtest_now() + 10;
         sshtest_sh("munge -n -S '%s' | unmunge -S '%s' >/dev/null 2>&1", sock, sock) !=
         0;
         usleep(50000))
        if (sshtest_now() > deadline || waitpid(c->munged, NULL, WNOHANG) == c->munged) {
            st_why_log(why, len, "munged did not start", log);
            return -1;
        }

    /* slurmctld, then a slurmd per node. */
    if ((ctld_port = sshtest_free_port()) < 0 || st_conf(c, ctld_port) != 0) {
        snprintf(why, len, "cannot write %s", c->conf);
        return -1;
    }
    setenv("SLURM_CONF", c->conf, 1);
    snprintf(port, sizeof(port), "%d", ctld_port);
    {
        const char *ctld[] = {
            st_daemon("slurmctld", prog, sizeof(prog)), "-D", "-c", "-f", c->conf, NULL};

        snprintf(log, sizeof(log), "%s/log/slurmctld.out", c->dir);
        if ((c->ctld = st_spawn(ctld, log)) < 0) {
            snprintf(why, len, "cannot start slurmctld");
            return -1;
        }
    }
    for (i = 0; i < SLURMTEST_NODES; i++) {
        const char *argv[] = {"ip", "netns", "exec", c->node[i], "sh", "-c", cmd, NULL};

        /* See slurmtest.h: a cgroup hierarchy of its own keeps slurmd 22.05 happy. */
        snprintf(
            cmd, sizeof(cmd),
            "mount -t tmpfs nwsl-cg /sys/fs/cgroup && mkdir /sys/fs/cgroup/systemd && "
            "mount -t cgroup -o none,name=nwsl-%d nwsl-cg /sys/fs/cgroup/systemd && "
            "exec slurmd -D -N %s -f '%s'",
            i + 1, c->node[i], c->conf);
        snprintf(log, sizeof(log), "%s/log/slurmd.%s.out", c->dir, c->node[i]);
        if ((c->slurmd[i] = st_spawn(argv, log)) < 0) {
            snprintf(why, len, "cannot start slurmd on %s", c->node[i]);
            return -1;
        }
    }

    /* sshd on every node, for the ssh launcher; aliases = node names. */
    if (sshtest_env_make(&c->ssh) != 0) {
        snprintf(why, len, "cannot make the ssh keys");
        return -1;
    }
    /* A node's sshd drops a silent master's session, so an unplugged node's
     * workers end (check_slurm.c, node_unplugged). */
    snprintf(c->ssh.sshd_extra, sizeof(c->ssh.sshd_extra),
             "ClientAliveInterval 1\nClientAliveCountMax 2\n");
    for (i = 0; i < SLURMTEST_NODES; i++) {
        snprintf(alias, sizeof(alias), "%s", c->node[i]);
        if (sshtest_sshd_start(&c->ssh, &c->sshd[i], alias, c->node_ip[i], 22) != 0 ||
            sshtest_known_host(&c->ssh, c->node_ip[i], 22, NULL) != 0 ||
            sshtest_config_host(&c->ssh, alias, c->node_ip[i], 22, NULL) != 0) {
            snprintf(why, len, "no sshd on %s", alias);
            return -1;
        }
    }

    /* Ready when every node is idle. */
    for (deadline = sshtest_now() + ST_UP_WAIT_S;
         sshtest_sh("test \"$(sinfo -h -t idle -o %%D 2>/dev/null)\" = %d",
                    SLURMTEST_NODES) != 0;
         usleep(100000)) {
        if (sshtest_now() > deadline) {
            snprintf(log, sizeof(log), "%s/log/slurmd.%s.out", c->dir, c->node[0]);
            st_why_log(why, len, "the nodes did not come up", log);
            return -1;
        }
        if (waitpid(c->ctld, NULL, WNOHANG) == c->ctld) {
            c->ctld = 0;
            snprintf(log, sizeof(log), "%s/log/slurmctld.out", c->dir);
            st_why_log(why, len, "slurmctld died", log);
            return -1;
        }
    }
    c->up_s = sshtest_now() - t0;
    return 0;
}

/* Kills and reaps a child we started. */
static void
st_stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
    }
    *pid = 0;
}

void
slurmtest_down(struct slurmtest *c)
{
    int i;

    if (c->owner != getpid())
        return; /* a forked test: the cluster is its parent's */
    for (i = 0; i < SLURMTEST_NODES; i++) {
        st_stop(&c->slurmd[i]);
        sshtest_sshd_stop(&c->sshd[i]);
    }
    st_stop(&c->ctld);
    st_stop(&c->munged);
    /* slurmstepd and whatever the jobs left run in the namespaces: gone with them. */
    slurmtest_cleanup();
    if (c->ssh.dir[0] != '\0')
        sshtest_env_free(&c->ssh);
    if (c->dir[0] != '\0' && getenv("NWSTEST_KEEP") == NULL)
        sshtest_sh("rm -rf '%s'", c->dir);
    c->dir[0] = '\0';
    unsetenv("SLURM_CONF");
    if (st_lock_fd >= 0)
        close(st_lock_fd);
    st_lock_fd = -1;
    c->owner = 0;
}

/* The inode of a network namespace, for comparing with /proc/PID/ns/net. */
static ino_t
st_netns_ino(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Fills pids with the processes whose command line holds word, in netns ns ("" any). */
static int
st_procs(const char *ns, const char *word, pid_t *pids, int max)
{
    DIR           *dir = opendir("/proc");
    struct dirent *de;
    char           path[300], buf[4096];
    ino_t          want = 0;
    ssize_t        n, k;
    int            fd, count = 0;

    if (ns[0] != '\0') {
        snprintf(path, sizeof(path), "/run/netns/%s", ns);
        if ((want = st_netns_ino(path)) == 0) {
            if (dir != NULL)
                closedir(dir);
            return 0;
        }
    }
    if (dir == NULL)
        return 0;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9' || atoi(de->d_name) == getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        for (k = 0; k < n; k++)
            if (buf[k] == '\0')
                buf[k] = ' ';
        buf[n] = '\0';
        if (strstr(buf, word) == NULL)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
        if (want != 0 && st_netns_ino(path) != want)
            continue;
        if (count < max)
            pids[count] = atoi(de->d_name);
        count++;
    }
    closedir(dir);
    return count;
}

int
slurmtest_kill_in_node(const struct slurmtest *c, int i, const char *word)
{
    pid_t pids[256];
    int   n = st_procs(c->node[i], word, pids, 256), k;

    for (k = 0; k < n && k < 256; k++)
        kill(pids[k], SIGKILL);
    return n;
}

int
slurmtest_count(const struct slurmtest *c, const char *word)
{
    pid_t pids[1];
    int   i, n = 0;

    for (i = 0; i < SLURMTEST_NODES; i++)
        n += st_procs(c->node[i], word, pids, 0);
    return n;
}
