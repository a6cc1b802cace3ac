#ifndef CFILESYSTEM_H
#define CFILESYSTEM_H

#include <stddef.h>
#include <sys/types.h>

/// Thin wrappers over Linux calls that Swift's Glibc module does not import
/// (<sys/xattr.h>, and copy_file_range, sync_file_range and F_OFD_SETLK which need _GNU_SOURCE).

int cfs_fsetxattr(int fd, const char *name, const void *value, size_t size);
ssize_t cfs_getxattr(const char *path, const char *name, void *value, size_t size);
ssize_t cfs_copy_file_range(int fd_in, int fd_out, size_t length);
/// An exclusive open-file-description lock on the whole file, without waiting: 0, or -1 with
/// errno EAGAIN/EACCES when another description holds it. Released when the descriptor closes.
int cfs_try_lock_exclusive(int fd);
/// Starts writing the file's dirty pages to disk without waiting (sync_file_range with
/// SYNC_FILE_RANGE_WRITE): a long write keeps the disk busy as it goes, so the fsync that makes
/// it durable at the end waits for the last chunks only, not for the whole file.
int cfs_start_writeback(int fd);

#endif
