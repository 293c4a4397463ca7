/* Secrets (passwords, tokens) read from files named in the config. */
#include "config/internal.h"

#include <errno.h>
#include <string.h>

#define SECRET_MAX (64 * 1024)

int cfg_read_secret(const char *key, const char *path, char **ret_secret,
		    struct cfg_error *err)
{
	char *buf = NULL, ebuf[128];
	size_t len = 0;
	int rc;

	if (!path || !path[0]) {
		cfg_error_set(err, "secret", 0, 0, key, "no file name given");
		return -EINVAL;
	}
	rc = cfg_file_read(path, SECRET_MAX, &buf, &len);
	if (rc == -EFBIG) {
		cfg_error_set(err, path, 0, 0, key,
			      "file too large for a secret (limit %d bytes)",
			      SECRET_MAX);
		return rc;
	}
	if (rc < 0) {
		cfg_error_set(err, path, 0, 0, key, "cannot read: %s",
			      cfg_strerror(-rc, ebuf, sizeof(ebuf)));
		return rc;
	}
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0) {
		cfg_error_set(err, path, 0, 0, key, "file is empty");
		rc = -EINVAL;
		goto fail;
	}
	if (strlen(buf) != len) {
		cfg_error_set(err, path, 0, 0, key,
			      "contains a NUL byte; a secret is text");
		rc = -EINVAL;
		goto fail;
	}
	*ret_secret = buf;
	return 0;
fail:
	explicit_bzero(buf, len);
	cfg_dealloc(buf);
	return rc;
}

char *cfg_secret_free(char *secret)
{
	if (!secret)
		return NULL;
	explicit_bzero(secret, strlen(secret));
	cfg_dealloc(secret);
	return NULL;
}
