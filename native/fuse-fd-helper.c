// fuse-fd-helper: mounts through fusermount3 (no root needed) and runs a program with the
// /dev/fuse descriptor as fd 3. Node cannot receive a descriptor over a Unix socket
// (SCM_RIGHTS), so this does what libfuse's fuse_mount_fusermount does, then gets out of the way.
//
//   fuse-fd-helper MOUNTPOINT OPTIONS -- PROGRAM [ARGS...]
//
// Exit codes: 2 usage, 3 system call failed, 4 fusermount3 failed, 127 PROGRAM not runnable;
// after execv, PROGRAM's own.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(int code, const char *what) {
  fprintf(stderr, "fuse-fd-helper: %s: %s\n", what, strerror(errno));
  return code;
}

// One recvmsg: a 1-byte payload carrying the descriptor as SCM_RIGHTS ancillary data.
// Returns the descriptor, -1 on error, -2 if the peer closed without sending one.
static int receive_fd(int sock) {
  char payload;
  struct iovec iov = {.iov_base = &payload, .iov_len = 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control, .msg_controllen = sizeof(control)};
  ssize_t n;
  do n = recvmsg(sock, &msg, 0); while (n == -1 && errno == EINTR);
  if (n == -1) return -1;
  if (n == 0) return -2;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) return -2;
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: fuse-fd-helper MOUNTPOINT OPTIONS -- PROGRAM [ARGS...]\n");
    return 2;
  }
  const char *mount_point = argv[1], *options = argv[2];
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) return fail(3, "socketpair");
  pid_t pid = fork();
  if (pid == -1) return fail(3, "fork");
  if (pid == 0) {
    char commfd[16];
    close(sv[1]);
    snprintf(commfd, sizeof(commfd), "%d", sv[0]);
    setenv("_FUSE_COMMFD", commfd, 1);
    if (options[0])
      execlp("fusermount3", "fusermount3", "-o", options, "--", mount_point, (char *)NULL);
    else
      execlp("fusermount3", "fusermount3", "--", mount_point, (char *)NULL);
    fprintf(stderr, "fuse-fd-helper: cannot run fusermount3 (is fuse3 installed?): %s\n",
            strerror(errno));
    _exit(127);
  }
  close(sv[0]);
  int fd = receive_fd(sv[1]);
  int saved = errno;
  close(sv[1]);
  int status;
  while (waitpid(pid, &status, 0) == -1)
    if (errno != EINTR) return fail(3, "waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || fd < 0) {
    if (fd == -1) errno = saved, fail(4, "recvmsg");
    fprintf(stderr, "fuse-fd-helper: fusermount3 could not mount %s (%s %d)\n", mount_point,
            WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    if (fd >= 0) close(fd);
    return 4;
  }
  if (fd != 3) {
    if (dup2(fd, 3) == -1) return fail(3, "dup2");
    close(fd);
  }
  execvp(argv[4], &argv[4]);
  fprintf(stderr, "fuse-fd-helper: cannot run %s: %s\n", argv[4], strerror(errno));
  // Nobody will serve the mount: detach it rather than leave it dead (ENOTCONN).
  close(3);
  if ((pid = fork()) == 0) {
    execlp("fusermount3", "fusermount3", "-uz", "--", mount_point, (char *)NULL);
    _exit(127);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
  return 127;
}
