#define _GNU_SOURCE
#include "CFileSystem.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/xattr.h>

int cfs_fsetxattr(int fd, const char *name, const void *value, size_t size) {
    return fsetxattr(fd, name, value, size, 0);
}

ssize_t cfs_getxattr(const char *path, const char *name, void *value, size_t size) {
    return getxattr(path, name, value, size);
}

ssize_t cfs_copy_file_range(int fd_in, int fd_out, size_t length) {
    return copy_file_range(fd_in, NULL, fd_out, NULL, length, 0);
}

int cfs_try_lock_exclusive(int fd) {
    struct flock lock = {0};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = 0;
    lock.l_len = 0;
    return fcntl(fd, F_OFD_SETLK, &lock);
}

int cfs_start_writeback(int fd) {
    // Offset 0 and length 0 mean the whole file; only dirty pages not already being written
    // are queued, so calling this after every chunk costs a walk of the dirty ones.
    return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}
