/*
 * agent/grpc against a real gRPC server (Python's grpcio,
 * test/tools/grpc_test_server.py, serving the project's proto/) on
 * loopback: h2c, TLS, mTLS, server name, token, error statuses, deadline,
 * refused connections, multiplexing, cancellation.  Each test starts its
 * own server and waits for its "port N" line; certificates are made by
 * openssl in a temp dir once.
 *
 * Run from the repository root (make test does); $GRPC_TEST_SERVER and
 * $GRPC_TEST_PROTO override the server script and proto/ paths.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "agent/flintlock_pb.h"
#include "agent/grpc.h"
#include "services/microvm/v1alpha1/microvms.pb-c.h"
#include "test/lib/evtest.h"
#include "test/lib/child.h"

#define SVC "/microvm.services.api.v1alpha1.MicroVM/"

static struct ev_loop *loop;
static char dir[] = "/tmp/flintsched-grpc-XXXXXX";
static char ca[128], other_ca[128], scrt[128], skey[128], ccrt[128],
	ckey[128];

struct server {
	pid_t pid;
	unsigned port;
	char endpoint[64];
};

struct res {
	bool done;
	int calls;
	struct grpc_result r;
	uint8_t reply[4096]; /* a copy of r.reply's bytes */
	double at;
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A CA, a server certificate for flintlockd.test and 127.0.0.1, a client
 * certificate, and a second CA that signed neither. */
static void make_certs(void)
{
	assert_int_equal(
		sh("cd '%s' && exec >openssl.log 2>&1 && "
		   "for c in ca other; do openssl req -x509 -newkey rsa:2048 "
		   "-nodes -keyout $c.key -out $c.crt -days 2 -subj /CN=$c "
		   "|| exit 1; done && "
		   "printf 'subjectAltName=DNS:flintlockd.test,IP:127.0.0.1\\n"
		   "extendedKeyUsage=serverAuth,clientAuth\\n' >ext && "
		   "for n in server client; do "
		   "openssl req -newkey rsa:2048 -nodes -keyout $n.key "
		   "-out $n.csr -subj /CN=$n || exit 1; "
		   "openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key "
		   "-CAcreateserial -out $n.crt -days 2 -extfile ext "
		   "|| exit 1; done",
		   dir),
		0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(other_ca, sizeof(other_ca), "%s/other.crt", dir);
	snprintf(scrt, sizeof(scrt), "%s/server.crt", dir);
	snprintf(skey, sizeof(skey), "%s/server.key", dir);
	snprintf(ccrt, sizeof(ccrt), "%s/client.crt", dir);
	snprintf(ckey, sizeof(ckey), "%s/client.key", dir);
}

/* Starts the server with NULL-terminated extra arguments. */
static void server_start(struct server *s, ...)
{
	const char *argv[24];
	const char *script = getenv("GRPC_TEST_SERVER");
	const char *proto = getenv("GRPC_TEST_PROTO");
	int i = 0;
	char line[64], log[192];
	va_list ap;

	argv[i++] = "/usr/bin/python3";
	argv[i++] = script ? script : "test/tools/grpc_test_server.py";
	argv[i++] = "--proto";
	argv[i++] = proto ? proto : "proto";
	va_start(ap, s);
	while (i < 23 && (argv[i] = va_arg(ap, const char *)) != NULL)
		i++;
	va_end(ap);
	argv[i] = NULL;
	snprintf(log, sizeof(log), "%s/server.log", dir);
	/* Until the server listens (or dies: EOF). */
	s->pid = child_start(argv, log, line, sizeof(line), 0);
	assert_true(s->pid > 0);
	assert_int_equal(sscanf(line, "port %u", &s->port), 1);
	snprintf(s->endpoint, sizeof(s->endpoint), "127.0.0.1:%u", s->port);
}

static void server_stop(struct server *s)
{
	(void)child_stop(s->pid, 10);
	s->pid = 0;
}

static void on_result(const struct grpc_result *r, void *arg)
{
	struct res *x = arg;

	x->calls++;
	x->done = true;
	x->r = *r;
	x->at = ev_time();
	if (r->reply != NULL) {
		assert_true(r->reply_len <= sizeof(x->reply));
		/* x is returned by value: read the bytes from x.reply,
		 * x.r.reply only says whether there was one. */
		memcpy(x->reply, r->reply, r->reply_len);
	}
}

struct conn {
	evcurl *m;
	grpc_channel *ch;
};

static struct conn conn_open(const struct grpc_channel_config *cfg)
{
	struct conn c = {0};

	assert_int_equal(evcurl_new(loop, &c.m), 0);
	assert_int_equal(grpc_channel_new(c.m, cfg, &c.ch), 0);
	return c;
}

static void conn_close(struct conn *c)
{
	c->ch = grpc_channel_free(c->ch);
	c->m = evcurl_free(c->m);
}

/* A plaintext server and an insecure (h2c) channel to it. */
static struct conn h2c_open(struct server *s)
{
	server_start(s, NULL);
	struct grpc_channel_config cfg = {.endpoint = s->endpoint,
					  .insecure = true};
	return conn_open(&cfg);
}

/* One call, run to its callback (bounded). */
static struct res call_bytes(grpc_channel *ch, const char *method,
			     const uint8_t *buf, size_t n, long deadline_ms)
{
	struct res x = {0};

	assert_int_equal(grpc_call_unary(ch, method, buf, n, deadline_ms,
					 on_result, &x, NULL),
			 0);
	assert_false(x.done); /* never from inside the call */
	assert_true(evtest_run_until(loop, &x.done, 20.0));
	assert_int_equal(x.calls, 1);
	return x;
}

static struct res call(grpc_channel *ch, const char *method,
		       const ProtobufCMessage *req, long deadline_ms)
{
	uint8_t buf[1024];
	size_t n = req ? protobuf_c_message_pack(req, buf) : 0;

	return call_bytes(ch, method, buf, n, deadline_ms);
}

static struct res get(grpc_channel *ch, const char *uid, long deadline_ms)
{
	Microvm__Services__Api__V1alpha1__GetMicroVMRequest g =
		MICROVM__SERVICES__API__V1ALPHA1__GET_MICRO_VMREQUEST__INIT;

	g.uid = (char *)uid;
	return call(ch, SVC "GetMicroVM", &g.base, deadline_ms);
}

static void assert_ok(const struct res *x)
{
	if (x->r.status.code != GRPC_OK)
		fail_msg("%s (transport %d): %s",
			 grpc_code_name(x->r.status.code), x->r.transport,
			 x->r.status.message);
	assert_false(x->r.transport);
	assert_true(x->r.sent);
	assert_int_equal(x->r.http_status, 200);
	assert_non_null(x->r.reply);
}

/* A GetMicroVM answer for uid, as the server builds it. */
static void assert_got(const struct res *x, const char *uid)
{
	assert_ok(x);
	Microvm__Services__Api__V1alpha1__GetMicroVMResponse *g =
		microvm__services__api__v1alpha1__get_micro_vmresponse__unpack(
			NULL, x->r.reply_len, x->reply);
	assert_non_null(g);
	assert_non_null(g->microvm);
	assert_int_equal(g->microvm->spec->_uid_case,
			 FLINTLOCK__TYPES__MICRO_VMSPEC___UID_UID);
	assert_string_equal(g->microvm->spec->uid, uid);
	assert_int_equal(g->microvm->status->state,
			 FLINTLOCK__TYPES__MICRO_VMSTATUS__MICRO_VMSTATE__CREATED);
	microvm__services__api__v1alpha1__get_micro_vmresponse__free_unpacked(
		g, NULL);
}

/* A refused TLS or TCP connection: ours, and nothing was sent. */
static void assert_refused(const struct res *x, const char *words)
{
	assert_int_equal(x->r.status.code, GRPC_UNAVAILABLE);
	assert_true(x->r.transport);
	assert_false(x->r.sent);
	assert_null(x->r.reply);
	if (words != NULL && strstr(x->r.status.message, words) == NULL)
		fail_msg("message without \"%s\": %s", words,
			 x->r.status.message);
}

static void test_channel_new_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",	       "127.0.0.1", ":9090",	 "127.0.0.1:",
		"host:0",      "host:65536", "host:90x", "a:b:9090",
		"[::1]9090",   "[::1",	     "a b:9090", "user@h:1",
	};
	evcurl *m = NULL;
	grpc_channel *ch = NULL;

	assert_int_equal(evcurl_new(loop, &m), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct grpc_channel_config cfg = {.endpoint = bad[i],
						  .insecure = true};

		if (grpc_channel_new(m, &cfg, &ch) != -EINVAL)
			fail_msg("endpoint \"%s\" accepted", bad[i]);
	}
	struct grpc_channel_config nokey = {.endpoint = "h:1",
					    .cert_file = "c.crt"};
	assert_int_equal(grpc_channel_new(m, &nokey, &ch), -EINVAL);
	const char *md[] = {"no-colon"};
	struct grpc_channel_config badmd = {
		.endpoint = "h:1", .insecure = true, .metadata = md,
		.n_metadata = 1};
	assert_int_equal(grpc_channel_new(m, &badmd, &ch), -EINVAL);
	assert_null(ch);
	struct grpc_channel_config v6 = {.endpoint = "[::1]:9090",
					 .insecure = true};
	assert_int_equal(grpc_channel_new(m, &v6, &ch), 0);
	struct res x = {0};
	assert_int_equal(grpc_call_unary(ch, "no-slash", NULL, 0, 0,
					 on_result, &x, NULL),
			 -EINVAL);
	ch = grpc_channel_free(ch);
	m = evcurl_free(m);
	assert_string_equal(grpc_code_name(GRPC_UNAUTHENTICATED),
			    "UNAUTHENTICATED");
	assert_string_equal(grpc_code_name(17), "?");
}

/* h2c: create, get, list, delete (an empty reply). */
static void test_h2c_calls(void **state)
{
	(void)state;
	struct server s;

	struct conn c = h2c_open(&s);

	Flintlock__Types__MicroVMSpec spec =
		FLINTLOCK__TYPES__MICRO_VMSPEC__INIT;
	spec.id = "vm-1";
	spec.namespace_ = "team";
	spec.vcpu = 2;
	spec.memory_in_mb = 2048;
	Microvm__Services__Api__V1alpha1__CreateMicroVMRequest cr =
		MICROVM__SERVICES__API__V1ALPHA1__CREATE_MICRO_VMREQUEST__INIT;
	cr.microvm = &spec;
	struct res x = call(c.ch, SVC "CreateMicroVM", &cr.base, 5000);
	assert_ok(&x);
	Microvm__Services__Api__V1alpha1__CreateMicroVMResponse *resp =
		microvm__services__api__v1alpha1__create_micro_vmresponse__unpack(
			NULL, x.r.reply_len, x.reply);
	assert_non_null(resp);
	assert_string_equal(resp->microvm->spec->id, "vm-1");
	assert_string_equal(resp->microvm->spec->namespace_, "team");
	assert_int_equal(resp->microvm->spec->vcpu, 2);
	assert_int_equal(resp->microvm->spec->memory_in_mb, 2048);
	assert_string_equal(resp->microvm->spec->uid, "01TESTUID0001");
	assert_int_equal(resp->microvm->status->state,
			 FLINTLOCK__TYPES__MICRO_VMSTATUS__MICRO_VMSTATE__PENDING);
	microvm__services__api__v1alpha1__create_micro_vmresponse__free_unpacked(
		resp, NULL);

	x = get(c.ch, "01TESTUID0001", 5000);
	assert_got(&x, "01TESTUID0001");

	Microvm__Services__Api__V1alpha1__ListMicroVMsRequest lr =
		MICROVM__SERVICES__API__V1ALPHA1__LIST_MICRO_VMS_REQUEST__INIT;
	lr.namespace_ = "team";
	x = call(c.ch, SVC "ListMicroVMs", &lr.base, 5000);
	assert_ok(&x);
	Microvm__Services__Api__V1alpha1__ListMicroVMsResponse *l =
		microvm__services__api__v1alpha1__list_micro_vms_response__unpack(
			NULL, x.r.reply_len, x.reply);
	assert_non_null(l);
	assert_int_equal(l->n_microvm, 2);
	assert_string_equal(l->microvm[1]->spec->id, "b");
	assert_string_equal(l->microvm[1]->spec->namespace_, "team");
	microvm__services__api__v1alpha1__list_micro_vms_response__free_unpacked(
		l, NULL);

	Microvm__Services__Api__V1alpha1__DeleteMicroVMRequest dr =
		MICROVM__SERVICES__API__V1ALPHA1__DELETE_MICRO_VMREQUEST__INIT;
	dr.uid = "01TESTUID0001";
	x = call(c.ch, SVC "DeleteMicroVM", &dr.base, 0);
	assert_ok(&x);
	assert_int_equal(x.r.reply_len, 0);

	conn_close(&c);
	server_stop(&s);
}

/* agent/flintlock_pb's bytes as Python's protobuf reads them, and back:
 * the server echoes the spec it decoded. */
static void test_flpb_roundtrip(void **state)
{
	(void)state;
	struct server s;
	json_t *spec = json_loads(
		"{\"vcpu\":2,\"memory_in_mb\":2048,\"kernel\":{\"image\":\"k\","
		"\"filename\":\"vmlinux\"},\"interfaces\":[{\"deviceId\":"
		"\"eth1\",\"type\":\"TAP\"}]}",
		0, NULL);
	uint8_t *buf = NULL;
	size_t len = 0;
	struct flpb_vm vm, *vms = NULL;
	size_t n = 0;
	struct flpb_error err = {0};
	struct res x;

	assert_non_null(spec);
	struct conn c = h2c_open(&s);
	assert_int_equal(flpb_create_request(spec, "web-1", "team", &buf,
					     &len, &err),
			 0);
	json_decref(spec);
	x = call_bytes(c.ch, FLPB_CREATE, buf, len, 5000);
	free(buf);
	assert_ok(&x);
	assert_int_equal(flpb_create_response(x.reply, x.r.reply_len, &vm,
					      &err),
			 0);
	assert_string_equal(vm.uid, "01TESTUID0001");
	assert_string_equal(vm.id, "web-1");
	assert_string_equal(vm.namespace_, "team");
	assert_int_equal(vm.state, FLPB_STATE_PENDING);

	assert_int_equal(flpb_list_request("team", "web-1", &buf, &len, &err),
			 0);
	x = call_bytes(c.ch, FLPB_LIST, buf, len, 5000);
	free(buf);
	assert_ok(&x);
	assert_int_equal(flpb_list_response(x.reply, x.r.reply_len, &vms,
					    &n, &err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(vms[0].id, "web-1");
	assert_string_equal(vms[0].namespace_, "team");
	assert_int_equal(vms[0].state, FLPB_STATE_CREATED);
	free(vms);
	conn_close(&c);
	server_stop(&s);
}

/* Status and message from the server: UNKNOWN with a percent-encoded
 * message (trailers-only), NOT_FOUND, UNIMPLEMENTED for an unknown
 * method. */
static void test_server_status(void **state)
{
	(void)state;
	struct server s;

	struct conn c = h2c_open(&s);

	struct res x = get(c.ch, "error", 5000);
	assert_int_equal(x.r.status.code, GRPC_UNKNOWN);
	assert_false(x.r.transport);
	assert_true(x.r.sent);
	assert_null(x.r.reply);
	assert_string_equal(x.r.status.message,
			    "validation failed: 100% wrong\n"
			    "vcpu \xe2\x89\xa4 64 \xc3\xa9t\xc3\xa9");

	x = get(c.ch, "missing", 5000);
	assert_int_equal(x.r.status.code, GRPC_NOT_FOUND);
	assert_false(x.r.transport);
	assert_string_equal(x.r.status.message, "microvm missing not found");

	x = call(c.ch, SVC "NoSuchMethod", NULL, 5000);
	assert_int_equal(x.r.status.code, GRPC_UNIMPLEMENTED);
	assert_false(x.r.transport);

	conn_close(&c);
	server_stop(&s);
}

static void test_tls(void **state)
{
	(void)state;
	struct server s;

	server_start(&s, "--tls-cert", scrt, "--tls-key", skey, NULL);
	struct grpc_channel_config cfg = {.endpoint = s.endpoint,
					  .ca_file = ca};
	struct conn c = conn_open(&cfg);
	struct res x = get(c.ch, "u1", 5000);
	assert_got(&x, "u1");
	conn_close(&c);

	/* server name: the certificate's DNS name, on 127.0.0.1 */
	cfg.server_name = "flintlockd.test";
	c = conn_open(&cfg);
	x = get(c.ch, "u2", 5000);
	assert_got(&x, "u2");
	conn_close(&c);

	/* a server name the certificate does not have */
	cfg.server_name = "wrong.test";
	c = conn_open(&cfg);
	x = get(c.ch, "u3", 5000);
	assert_refused(&x, "wrong.test");
	conn_close(&c);

	/* the wrong CA */
	cfg.server_name = NULL;
	cfg.ca_file = other_ca;
	c = conn_open(&cfg);
	x = get(c.ch, "u4", 5000);
	assert_refused(&x, "certificate");
	conn_close(&c);

	/* a CA file that does not exist */
	cfg.ca_file = "/nonexistent/ca.crt";
	c = conn_open(&cfg);
	x = get(c.ch, "u5", 5000);
	assert_refused(&x, NULL);
	conn_close(&c);

	/* plaintext to a TLS port */
	struct grpc_channel_config plain = {.endpoint = s.endpoint,
					    .insecure = true};
	c = conn_open(&plain);
	x = get(c.ch, "u6", 5000);
	assert_true(x.r.transport);
	assert_int_not_equal(x.r.status.code, GRPC_OK);
	print_message("plaintext to TLS: %s sent=%d: %s\n",
		      grpc_code_name(x.r.status.code), x.r.sent,
		      x.r.status.message);
	conn_close(&c);
	server_stop(&s);
}

static void test_mtls(void **state)
{
	(void)state;
	struct server s;

	server_start(&s, "--tls-cert", scrt, "--tls-key", skey, "--client-ca",
		     ca, NULL);
	struct grpc_channel_config cfg = {.endpoint = s.endpoint,
					  .ca_file = ca, .cert_file = ccrt,
					  .key_file = ckey};
	struct conn c = conn_open(&cfg);
	struct res x = get(c.ch, "u1", 5000);
	assert_got(&x, "u1");
	conn_close(&c);

	/* no client certificate: refused by the server.  With TLS 1.3 the
	 * client may have finished its handshake and written the request
	 * before the server's alert arrives, so sent is not asserted. */
	cfg.cert_file = cfg.key_file = NULL;
	c = conn_open(&cfg);
	x = get(c.ch, "u2", 5000);
	assert_int_equal(x.r.status.code, GRPC_UNAVAILABLE);
	assert_true(x.r.transport);
	assert_null(x.r.reply);
	print_message("mTLS without a client certificate: sent=%d: %s\n",
		      x.r.sent, x.r.status.message);
	conn_close(&c);
	server_stop(&s);
}

static void test_token(void **state)
{
	(void)state;
	struct server s;

	server_start(&s, "--token", "s3cret-token", NULL);
	struct grpc_channel_config cfg = {.endpoint = s.endpoint,
					  .insecure = true,
					  .basic_token = "s3cret-token"};
	struct conn c = conn_open(&cfg);
	struct res x = get(c.ch, "u1", 5000);
	assert_got(&x, "u1");
	conn_close(&c);

	cfg.basic_token = "wrong";
	c = conn_open(&cfg);
	x = get(c.ch, "u2", 5000);
	assert_int_equal(x.r.status.code, GRPC_UNAUTHENTICATED);
	assert_false(x.r.transport);
	assert_true(x.r.sent);
	assert_non_null(strstr(x.r.status.message, "invalid token"));
	/* the server saw base64("wrong") */
	assert_non_null(strstr(x.r.status.message, "Basic d3Jvbmc="));
	conn_close(&c);

	cfg.basic_token = NULL;
	c = conn_open(&cfg);
	x = get(c.ch, "u3", 5000);
	assert_int_equal(x.r.status.code, GRPC_UNAUTHENTICATED);
	conn_close(&c);
	server_stop(&s);
}

static void test_deadline(void **state)
{
	(void)state;
	struct server s;

	struct conn c = h2c_open(&s);
	double t0 = ev_time();
	struct res x = get(c.ch, "slow", 300);
	double took = x.at - t0;

	assert_int_equal(x.r.status.code, GRPC_DEADLINE_EXCEEDED);
	assert_true(x.r.sent);
	assert_null(x.r.reply);
	print_message("deadline 300 ms: after %.0f ms, transport=%d: %s\n",
		      took * 1000, x.r.transport, x.r.status.message);
	assert_true(took >= 0.29 && took < 3.0);
	/* the connection still serves */
	x = get(c.ch, "u1", 5000);
	assert_got(&x, "u1");
	conn_close(&c);
	server_stop(&s);
}

static unsigned free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
	close(fd); /* nobody listens there now */
	return ntohs(a.sin_port);
}

static void test_refused(void **state)
{
	(void)state;
	char ep[64];

	snprintf(ep, sizeof(ep), "127.0.0.1:%u", free_port());
	struct grpc_channel_config cfg = {.endpoint = ep, .insecure = true};
	struct conn c = conn_open(&cfg);
	struct res x = get(c.ch, "u1", 5000);
	assert_refused(&x, ep);
	print_message("refused: %s\n", x.r.status.message);
	conn_close(&c);

	struct grpc_channel_config tls = {.endpoint = ep, .ca_file = ca};
	c = conn_open(&tls);
	x = get(c.ch, "u1", 5000);
	assert_refused(&x, ep);
	conn_close(&c);
}

struct peers {
	int done;
	char peer[16][64];
};

struct peer_call {
	struct peers *p;
	int i;
};

static void on_peer(const struct grpc_result *r, void *arg)
{
	struct peer_call *pc = arg;

	assert_int_equal(r->status.code, GRPC_OK);
	assert_true(r->reply_len < 64);
	memcpy(pc->p->peer[pc->i], r->reply, r->reply_len);
	pc->p->peer[pc->i][r->reply_len] = '\0';
	pc->p->done++;
}

/* Concurrent calls share one HTTP/2 connection; later ones reuse it. */
static void test_multiplex(void **state)
{
	(void)state;
	struct server s;
	struct peers p = {0};
	struct peer_call pc[16];

	server_start(&s, "--tls-cert", scrt, "--tls-key", skey, NULL);
	struct grpc_channel_config cfg = {.endpoint = s.endpoint,
					  .ca_file = ca};
	struct conn c = conn_open(&cfg);
	for (int i = 0; i < 12; i++) {
		pc[i] = (struct peer_call){&p, i};
		assert_int_equal(grpc_call_unary(c.ch, "/test.Peer/Get",
						 NULL, 0, 5000, on_peer,
						 &pc[i], NULL),
				 0);
	}
	assert_int_equal(grpc_channel_active(c.ch), 12);
	assert_true(evtest_run_until_count(loop, &p.done, 12, 20.0));
	for (int i = 12; i < 16; i++) {
		pc[i] = (struct peer_call){&p, i};
		assert_int_equal(grpc_call_unary(c.ch, "/test.Peer/Get",
						 NULL, 0, 5000, on_peer,
						 &pc[i], NULL),
				 0);
		assert_true(evtest_run_until_count(loop, &p.done, i + 1,
						   20.0));
	}
	for (int i = 1; i < 16; i++)
		if (strcmp(p.peer[i], p.peer[0]))
			fail_msg("call %d on %s, call 0 on %s", i, p.peer[i],
				 p.peer[0]);
	print_message("16 calls, 12 at once, over TLS: one connection (%s)\n",
		      p.peer[0]);
	assert_int_equal(grpc_channel_active(c.ch), 0);
	conn_close(&c);
	server_stop(&s);
}

/* A cancelled call never calls back; freeing a channel with calls in
 * flight calls none back either. */
static void test_cancel(void **state)
{
	(void)state;
	struct server s;

	struct conn c = h2c_open(&s);
	Microvm__Services__Api__V1alpha1__GetMicroVMRequest g =
		MICROVM__SERVICES__API__V1ALPHA1__GET_MICRO_VMREQUEST__INIT;
	uint8_t buf[64];
	size_t n;
	struct res slow = {0}, gone = {0};
	grpc_call *call1 = NULL;

	g.uid = "slow";
	n = protobuf_c_message_pack(&g.base, buf);
	assert_int_equal(grpc_call_unary(c.ch, SVC "GetMicroVM", buf, n, 0,
					 on_result, &slow, &call1),
			 0);
	assert_non_null(call1);
	struct res x = get(c.ch, "u1", 5000); /* the loop ran meanwhile */
	assert_got(&x, "u1");
	grpc_call_cancel(call1);
	x = get(c.ch, "u2", 5000);
	assert_got(&x, "u2");
	assert_false(slow.done);

	assert_int_equal(grpc_call_unary(c.ch, SVC "GetMicroVM", buf, n, 0,
					 on_result, &gone, NULL),
			 0);
	assert_int_equal(grpc_channel_active(c.ch), 1);
	conn_close(&c);
	evtest_run_for(loop, 0.05);
	assert_false(gone.done);
	server_stop(&s);
}

static int setup(void **state)
{
	(void)state;
	loop = ev_default_loop(0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	assert_non_null(mkdtemp(dir));
	make_certs();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sh("rm -rf '%s'", dir);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel_new_invalid),
		cmocka_unit_test(test_h2c_calls),
		cmocka_unit_test(test_flpb_roundtrip),
		cmocka_unit_test(test_server_status),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_mtls),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_multiplex),
		cmocka_unit_test(test_cancel),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
