/* privilege.c - drop root for an unprivileged user with three capabilities. */
#include "privilege.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "log.h"

#define PRIVILEGE_DIR_MODE 0750

/* glibc has no wrappers for capget/capset without libcap. */
static int privilege_capget(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};

	return (int)syscall(SYS_capget, &hdr, data);
}

static int privilege_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {
	    {(uint32_t)effective, (uint32_t)permitted, (uint32_t)inheritable},
	    {(uint32_t)(effective >> 32), (uint32_t)(permitted >> 32),
	     (uint32_t)(inheritable >> 32)},
	};

	return (int)syscall(SYS_capset, &hdr, data);
}

/* The capability sets of the calling thread. */
static int privilege_current(uint64_t *effective, uint64_t *permitted, uint64_t *ambient_or_zero)
{
	struct __user_cap_data_struct data[2];

	if (privilege_capget(data) < 0)
		return -errno;
	*effective = data[0].effective | (uint64_t)data[1].effective << 32;
	*permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
	*ambient_or_zero = 0;
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
			*ambient_or_zero |= UINT64_C(1) << cap;
	}
	return 0;
}

/* The highest capability this kernel knows. */
static int privilege_last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f != NULL) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

static bool privilege_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *found = NULL;
	char buf[4096], *end;
	unsigned long id;
	int rc;

	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
	if (found == NULL) {
		errno = 0;
		id = strtoul(user, &end, 10);
		if (user[0] >= '0' && user[0] <= '9' && *end == '\0' && errno == 0)
			rc = getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &found);
	}
	if (found == NULL) {
		snprintf(err, errlen, "no user `%s'%s%s", user, rc ? ": " : "",
			 rc ? strerror(rc) : "");
		return false;
	}
	if (found->pw_uid == 0) {
		snprintf(err, errlen, "user `%s' is root: give an unprivileged user", user);
		return false;
	}
	*uid = found->pw_uid;
	*gid = found->pw_gid;
	return true;
}

/* Root-owned regular files in dir go to the user; symlinks and others are left alone. */
static int privilege_hand_over_files(int dirfd, const char *dir, uid_t uid, gid_t gid, char *err,
				     size_t errlen)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int ret = 0;

	if (d == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != 0)
			continue;
		if (fchownat(dirfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot give %s/%s to uid %u: %s", dir, e->d_name,
				 (unsigned)uid, strerror(errno));
			break;
		}
	}
	closedir(d);
	return ret;
}

/* Makes dir droverd's: created for the user when missing, else it must be the user's. */
static int privilege_prepare_dir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	if (mkdir(dir, PRIVILEGE_DIR_MODE) == 0) {
		if (chown(dir, uid, gid) < 0) {
			snprintf(err, errlen, "cannot give %s to uid %u: %s", dir, (unsigned)uid,
				 strerror(errno));
			return -errno;
		}
		return 0;
	}
	if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	/*
	 * Never chown a directory we did not make: --db /etc/x.db must not
	 * hand /etc to the service user. systemd's StateDirectory= and
	 * RuntimeDirectory= make these right; so does the package.
	 */
	if (st.st_uid != uid) {
		snprintf(err, errlen,
			 "%s belongs to uid %u, not to droverd's user (uid %u): chown it, or let "
			 "droverd create it",
			 dir, (unsigned)st.st_uid, (unsigned)uid);
		close(fd);
		return -EPERM;
	}
	ret = privilege_hand_over_files(fd, dir, uid, gid, err, errlen);
	close(fd);
	return ret;
}

int privilege_drop(const char *user, const char *const *dirs, size_t ndirs, char *err,
		   size_t errlen)
{
	uint64_t eff = 0, prm = 0, amb = 0; /* set by privilege_current */
	uid_t uid;
	gid_t gid;
	int last, ret;

	if (!privilege_lookup(user, &uid, &gid, err, errlen))
		return -ENOENT;
	if (geteuid() == uid && getuid() == uid)
		return 0; /* already that user: systemd did it, with ambient capabilities */
	if (geteuid() != 0) {
		snprintf(err, errlen,
			 "--user %s needs droverd to start as root (it runs as uid %u)", user,
			 (unsigned)geteuid());
		return -EPERM;
	}
	for (size_t i = 0; i < ndirs; i++) {
		ret = privilege_prepare_dir(dirs[i], uid, gid, err, errlen);
		if (ret < 0)
			return ret;
	}

	/* Everything but the bounding set's three goes while we still hold CAP_SETPCAP. */
	last = privilege_last_cap();
	for (int cap = 0; cap <= last; cap++) {
		if ((PRIVILEGE_KEEP_MASK >> cap) & 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(err, errlen, "cannot drop capability %d from the bounding set: %s",
				 cap, strerror(errno));
			return -errno;
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(1, &gid) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "cannot become uid %u gid %u: %s", (unsigned)uid,
			 (unsigned)gid, strerror(errno));
		return -errno;
	}
	/* setresuid left the permitted set (KEEPCAPS) and cleared the effective one. */
	if (privilege_capset(PRIVILEGE_KEEP_MASK, PRIVILEGE_KEEP_MASK, PRIVILEGE_KEEP_MASK) < 0) {
		snprintf(err, errlen, "cannot keep CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF: %s",
			 strerror(errno));
		return -errno;
	}
	for (int cap = 0; cap < 64; cap++) {
		if (((PRIVILEGE_KEEP_MASK >> cap) & 1) == 0)
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
			snprintf(err, errlen, "cannot make capability %d ambient: %s", cap,
				 strerror(errno));
			return -errno;
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "prctl: %s", strerror(errno));
		return -errno;
	}

	/* Check what we got rather than trust it: no way back to root, exactly three capabilities.
	 */
	if (setuid(0) == 0 || privilege_current(&eff, &prm, &amb) < 0 ||
	    eff != PRIVILEGE_KEEP_MASK || prm != PRIVILEGE_KEEP_MASK ||
	    amb != PRIVILEGE_KEEP_MASK) {
		snprintf(err, errlen, "privileges not as expected after the drop");
		return -EPERM;
	}
	log_info("running as %s (uid %u gid %u) with CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF only",
		 user, (unsigned)uid, (unsigned)gid);
	return 0;
}
