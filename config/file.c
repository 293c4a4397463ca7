/* Reading a whole file with a size limit (configs and secrets). */
#include "config/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cfg_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	char *buf = NULL, *bigger;
	size_t len = 0, cap = 4096;
	ssize_t got;
	struct stat st;
	int fd, rc;

	/* Not blocking in open(): a FIFO given as the config hung the
	 * daemon; only a regular file is read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		return rc;
	}
	buf = cfg_alloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto fail;
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max + 1) {
				rc = -EFBIG;
				goto fail;
			}
			bigger = cfg_realloc_array(buf, cap * 2, 1);
			if (!bigger) {
				rc = -ENOMEM;
				goto fail;
			}
			buf = bigger;
			cap *= 2;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			goto fail;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		if (len > max) {
			rc = -EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
fail:
	if (buf)
		explicit_bzero(buf, cap);
	cfg_dealloc(buf);
	close(fd);
	return rc;
}
