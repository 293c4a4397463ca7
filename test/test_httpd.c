/* common/httpd: MHD on the ev loop answers GETs from the loop thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <ev.h>

#include "common/httpd.h"
#include "etcdclient/evcurl.h"
#include "test/lib/evtest.h"

struct fetch {
	char body[256];
	size_t len;
	long status;
	bool done;
	CURLcode res;
};

static int calls;

static int handler(void *arg, const char *path, char **body,
		   const char **type)
{
	(void)arg;
	calls++;
	if (strcmp(path, "/healthz") == 0) {
		*body = strdup("ok\n");
		return 200;
	}
	if (strcmp(path, "/metrics") == 0) {
		*type = "text/plain; version=0.0.4";
		*body = strdup("flintsched_test_total 7\n");
		return 200;
	}
	*body = NULL;
	return 404;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	size_t k = size * n;

	if (f->len + k < sizeof(f->body)) {
		memcpy(f->body + f->len, p, k);
		f->len += k;
		f->body[f->len] = '\0';
	}
	return k;
}

static void on_done(CURL *e, CURLcode res, void *arg)
{
	struct fetch *f = arg;

	f->res = res;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &f->status);
	f->done = true;
}

static void get(struct ev_loop *loop, evcurl *m, int port, const char *path,
		const char *method, struct fetch *f)
{
	char url[128];
	CURL *e = curl_easy_init();

	memset(f, 0, sizeof(*f));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(evcurl_add(m, e, on_done, f), 0);
	assert_true(evtest_run_until(loop, &f->done, 10));
	curl_easy_cleanup(e);
}

static void test_httpd_serves(void **state)
{
	struct ev_loop *loop = ev_loop_new(0);
	fs_httpd *h = NULL;
	evcurl *m = NULL;
	struct fetch f;
	char err[256];

	(void)state;
	assert_int_equal(fs_httpd_start(loop, "127.0.0.1:0", handler, NULL,
					&h, err, sizeof(err)),
			 0);
	assert_true(fs_httpd_port(h) > 0);
	assert_int_equal(evcurl_new(loop, &m), 0);

	get(loop, m, fs_httpd_port(h), "/healthz", "GET", &f);
	assert_int_equal(f.res, CURLE_OK);
	assert_int_equal(f.status, 200);
	assert_string_equal(f.body, "ok\n");

	get(loop, m, fs_httpd_port(h), "/metrics", "GET", &f);
	assert_int_equal(f.status, 200);
	assert_string_equal(f.body, "flintsched_test_total 7\n");

	get(loop, m, fs_httpd_port(h), "/nope", "GET", &f);
	assert_int_equal(f.status, 404);

	int before = calls;
	get(loop, m, fs_httpd_port(h), "/healthz", "DELETE", &f);
	assert_int_equal(f.status, 405);
	assert_int_equal(calls, before); /* handler not asked */

	m = evcurl_free(m);
	h = fs_httpd_stop(h);
	ev_loop_destroy(loop);
}

static void test_httpd_bad_listen(void **state)
{
	static const char *const bad[] = {"", "9100", "127.0.0.1:", "x:1",
					  "127.0.0.1:70000", "::1:80"};
	struct ev_loop *loop = ev_loop_new(0);
	fs_httpd *h = NULL, *h2 = NULL;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(fs_httpd_start(loop, bad[i], handler, NULL,
						&h, err, sizeof(err)),
				 -22);
		assert_non_null(strstr(err, "http.listen"));
	}
	/* A port in use is refused with a message. */
	assert_int_equal(fs_httpd_start(loop, "127.0.0.1:0", handler, NULL, &h,
					err, sizeof(err)),
			 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fs_httpd_port(h));
	assert_true(fs_httpd_start(loop, addr, handler, NULL, &h2, err,
				   sizeof(err)) < 0);
	assert_non_null(strstr(err, addr));
	h = fs_httpd_stop(h);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_httpd_serves),
		cmocka_unit_test(test_httpd_bad_listen),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
