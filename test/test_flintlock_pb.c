/*
 * agent/flintlock_pb: spec JSON in, protobuf fields out (after a pack and
 * an unpack by protobuf-c), invalid specs refused with the field named;
 * requests and replies round trip; allocation failures fail cleanly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/flintlock_pb.h"
#include "test/lib/nomem.h"
#include "services/microvm/v1alpha1/microvms.pb-c.h"

typedef Microvm__Services__Api__V1alpha1__CreateMicroVMRequest CreateReq;

/* Converts json and unpacks the result (new, free with req_free()). */
static CreateReq *convert(const char *json, struct flpb_error *err, int *rc)
{
	json_error_t je;
	json_t *j = json_loads(json, JSON_ALLOW_NUL, &je);
	uint8_t *buf = NULL;
	size_t len = 0;
	CreateReq *r = NULL;

	if (j == NULL)
		fail_msg("bad test JSON %s: %s", json, je.text);
	*rc = flpb_create_request(j, "vm-1", "tenant", &buf, &len, err);
	json_decref(j);
	if (*rc == 0) {
		r = microvm__services__api__v1alpha1__create_micro_vmrequest__unpack(
			NULL, len, buf);
		assert_non_null(r);
		free(buf);
	}
	return r;
}

static void req_free(CreateReq *r)
{
	microvm__services__api__v1alpha1__create_micro_vmrequest__free_unpacked(
		r, NULL);
}

static CreateReq *ok(const char *json)
{
	struct flpb_error err = {0};
	int rc;
	CreateReq *r = convert(json, &err, &rc);

	if (rc != 0)
		fail_msg("%s refused: %s", json, err.message);
	assert_non_null(r->microvm);
	assert_string_equal(r->microvm->id, "vm-1");
	assert_string_equal(r->microvm->namespace_, "tenant");
	return r;
}

static const char full[] =
	"{\"id\":\"users-id\",\"namespace\":\"victim\",\"uid\":\"x\","
	"\"vcpu\":2,\"memoryInMb\":2048,"
	"\"labels\":{\"team\":\"web\"},"
	"\"metadata\":{\"user-data\":\"I2Nsb3VkLWNvbmZpZw==\"},"
	"\"kernel\":{\"image\":\"ghcr.io/k:1\",\"filename\":\"vmlinux\","
	"\"cmdline\":{\"console\":\"ttyS0\"},\"addNetworkConfig\":true},"
	"\"initrd\":{\"image\":\"ghcr.io/i:1\"},"
	"\"rootVolume\":{\"id\":\"root\",\"isReadOnly\":false,"
	"\"source\":{\"containerSource\":\"ghcr.io/root:1\"},"
	"\"sizeInMb\":4096},"
	"\"additionalVolumes\":[{\"id\":\"data\",\"isReadOnly\":true,"
	"\"mountPoint\":\"/data\",\"partitionId\":\"p1\","
	"\"source\":{\"virtiofsSource\":\"/srv/data\"}}],"
	"\"interfaces\":[{\"deviceId\":\"eth1\",\"type\":\"TAP\","
	"\"guestMac\":\"AA:BB:CC:DD:EE:FF\","
	"\"address\":{\"address\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.1\","
	"\"nameservers\":[\"1.1.1.1\",\"8.8.8.8\"]},"
	"\"overrides\":{\"bridgeName\":\"br0\"}},"
	"{\"deviceId\":\"eth2\"}],"
	"\"provider\":\"firecracker\",\"allowGuestAgent\":true,"
	"\"scheduling\":{\"spread\":\"web\"}}";

static void test_full_spec(void **state)
{
	(void)state;
	CreateReq *r = ok(full);
	Flintlock__Types__MicroVMSpec *s = r->microvm;

	/* id and namespace are the caller's, uid never sent */
	assert_int_equal(s->_uid_case,
			 FLINTLOCK__TYPES__MICRO_VMSPEC___UID__NOT_SET);
	assert_int_equal(s->vcpu, 2);
	assert_int_equal(s->memory_in_mb, 2048);
	assert_int_equal(s->n_labels, 1);
	assert_string_equal(s->labels[0]->key, "team");
	assert_string_equal(s->labels[0]->value, "web");
	assert_int_equal(s->n_metadata, 1);
	assert_string_equal(s->metadata[0]->key, "user-data");
	assert_string_equal(s->metadata[0]->value, "I2Nsb3VkLWNvbmZpZw==");
	assert_string_equal(s->kernel->image, "ghcr.io/k:1");
	assert_int_equal(s->kernel->_filename_case,
			 FLINTLOCK__TYPES__KERNEL___FILENAME_FILENAME);
	assert_string_equal(s->kernel->filename, "vmlinux");
	assert_int_equal(s->kernel->n_cmdline, 1);
	assert_string_equal(s->kernel->cmdline[0]->value, "ttyS0");
	assert_true(s->kernel->add_network_config);
	assert_int_equal(s->_initrd_case,
			 FLINTLOCK__TYPES__MICRO_VMSPEC___INITRD_INITRD);
	assert_string_equal(s->initrd->image, "ghcr.io/i:1");
	assert_int_equal(s->initrd->_filename_case,
			 FLINTLOCK__TYPES__INITRD___FILENAME__NOT_SET);
	assert_string_equal(s->root_volume->id, "root");
	assert_false(s->root_volume->is_read_only);
	assert_string_equal(s->root_volume->source->container_source,
			    "ghcr.io/root:1");
	assert_int_equal(s->root_volume->source->_virtiofs_source_case,
			 FLINTLOCK__TYPES__VOLUME_SOURCE___VIRTIOFS_SOURCE__NOT_SET);
	assert_int_equal(s->root_volume->_size_in_mb_case,
			 FLINTLOCK__TYPES__VOLUME___SIZE_IN_MB_SIZE_IN_MB);
	assert_int_equal(s->root_volume->size_in_mb, 4096);
	assert_int_equal(s->root_volume->_mount_point_case,
			 FLINTLOCK__TYPES__VOLUME___MOUNT_POINT__NOT_SET);
	assert_int_equal(s->n_additional_volumes, 1);
	Flintlock__Types__Volume *d = s->additional_volumes[0];
	assert_true(d->is_read_only);
	assert_string_equal(d->mount_point, "/data");
	assert_string_equal(d->partition_id, "p1");
	assert_string_equal(d->source->virtiofs_source, "/srv/data");
	assert_int_equal(s->n_interfaces, 2);
	Flintlock__Types__NetworkInterface *n = s->interfaces[0];
	assert_string_equal(n->device_id, "eth1");
	assert_int_equal(n->type,
			 FLINTLOCK__TYPES__NETWORK_INTERFACE__IFACE_TYPE__TAP);
	assert_string_equal(n->guest_mac, "AA:BB:CC:DD:EE:FF");
	assert_string_equal(n->address->address, "10.0.0.2/24");
	assert_string_equal(n->address->gateway, "10.0.0.1");
	assert_int_equal(n->address->n_nameservers, 2);
	assert_string_equal(n->address->nameservers[1], "8.8.8.8");
	assert_string_equal(n->overrides->bridge_name, "br0");
	n = s->interfaces[1];
	assert_int_equal(n->type,
			 FLINTLOCK__TYPES__NETWORK_INTERFACE__IFACE_TYPE__MACVTAP);
	assert_int_equal(n->_address_case,
			 FLINTLOCK__TYPES__NETWORK_INTERFACE___ADDRESS__NOT_SET);
	assert_int_equal(n->_overrides_case,
			 FLINTLOCK__TYPES__NETWORK_INTERFACE___OVERRIDES__NOT_SET);
	assert_string_equal(s->provider, "firecracker");
	assert_true(s->allow_guest_agent);
	req_free(r);
}

/* The proto names, enums by number, null as absent. */
static void test_proto_names(void **state)
{
	(void)state;
	CreateReq *r = ok(
		"{\"memory_in_mb\":1024,\"vcpu\":null,"
		"\"root_volume\":{\"id\":\"r\",\"is_read_only\":true,"
		"\"mount_point\":\"/\",\"partition_id\":\"x\","
		"\"size_in_mb\":10,"
		"\"source\":{\"container_source\":\"img\","
		"\"virtiofs_source\":\"/p\"}},"
		"\"additional_volumes\":[],"
		"\"kernel\":{\"image\":\"k\",\"add_network_config\":true},"
		"\"interfaces\":[{\"device_id\":\"e\",\"type\":1,"
		"\"guest_mac\":\"m\",\"overrides\":{\"bridge_name\":\"b\"}}],"
		"\"allow_guest_agent\":false,\"initrd\":null}");
	Flintlock__Types__MicroVMSpec *s = r->microvm;

	assert_int_equal(s->memory_in_mb, 1024);
	assert_int_equal(s->vcpu, 0);
	assert_true(s->root_volume->is_read_only);
	assert_string_equal(s->root_volume->mount_point, "/");
	assert_int_equal(s->root_volume->size_in_mb, 10);
	assert_string_equal(s->root_volume->source->container_source, "img");
	assert_string_equal(s->root_volume->source->virtiofs_source, "/p");
	assert_true(s->kernel->add_network_config);
	assert_int_equal(s->interfaces[0]->type,
			 FLINTLOCK__TYPES__NETWORK_INTERFACE__IFACE_TYPE__TAP);
	assert_string_equal(s->interfaces[0]->guest_mac, "m");
	assert_string_equal(s->interfaces[0]->overrides->bridge_name, "b");
	assert_int_equal(s->_initrd_case,
			 FLINTLOCK__TYPES__MICRO_VMSPEC___INITRD__NOT_SET);
	assert_int_equal(s->n_additional_volumes, 0);
	req_free(r);

	r = ok("{}");
	assert_null(r->microvm->kernel);
	assert_null(r->microvm->root_volume);
	req_free(r);
}

static const struct {
	const char *json;
	const char *message;
} invalid[] = {
	{"[]", "spec: must be an object, got an array"},
	{"{\"vcpu\":\"2\"}", "vcpu: must be an integer, got a string"},
	{"{\"vcpu\":2.5}", "vcpu: must be an integer, got a number with a fraction"},
	{"{\"vcpu\":4294967296}", "vcpu: must fit in 32 bits, got 4294967296"},
	{"{\"memoryInMb\":1,\"memory_in_mb\":2}",
	 "memoryInMb: given twice, as memoryInMb and memory_in_mb"},
	{"{\"memory_in_mb\":true}",
	 "memory_in_mb: must be an integer, got a boolean"},
	{"{\"labels\":[\"a\"]}", "labels: must be an object, got an array"},
	{"{\"labels\":{\"a\":1}}", "labels.a: must be a string, got an integer"},
	{"{\"kernel\":\"img\"}", "kernel: must be an object, got a string"},
	{"{\"kernel\":{\"image\":7}}",
	 "kernel.image: must be a string, got an integer"},
	{"{\"kernel\":{\"cmdline\":{\"x\":{}}}}",
	 "kernel.cmdline.x: must be a string, got an object"},
	{"{\"kernel\":{\"addNetworkConfig\":\"yes\"}}",
	 "kernel.addNetworkConfig: must be true or false, got a string"},
	{"{\"initrd\":{\"filename\":[]}}",
	 "initrd.filename: must be a string, got an array"},
	{"{\"rootVolume\":{\"source\":{\"containerSource\":1}}}",
	 "rootVolume.source.containerSource: must be a string, got an integer"},
	{"{\"root_volume\":{\"size_in_mb\":\"1\"}}",
	 "root_volume.size_in_mb: must be an integer, got a string"},
	{"{\"additionalVolumes\":{}}",
	 "additionalVolumes: must be an array, got an object"},
	{"{\"additionalVolumes\":[{},3]}",
	 "additionalVolumes[1]: must be an object, got an integer"},
	{"{\"interfaces\":[{\"deviceId\":\"e\",\"type\":\"tun\"}]}",
	 "interfaces[0].type: must be \"MACVTAP\" or \"TAP\", got \"tun\""},
	{"{\"interfaces\":[{},{\"type\":2}]}",
	 "interfaces[1].type: must be \"MACVTAP\" or \"TAP\", got an integer"},
	{"{\"interfaces\":[{\"address\":{\"nameservers\":[\"a\",1]}}]}",
	 "interfaces[0].address.nameservers[1]: must be a string, got an "
	 "integer"},
	{"{\"interfaces\":[{\"overrides\":{\"bridgeName\":false}}]}",
	 "interfaces[0].overrides.bridgeName: must be a string, got a boolean"},
	{"{\"provider\":\"a\\u0000b\"}", "provider: contains a NUL byte"},
	{"{\"allowGuestAgent\":1}",
	 "allowGuestAgent: must be true or false, got an integer"},
};

static void test_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
		struct flpb_error err = {0};
		int rc;
		CreateReq *r = convert(invalid[i].json, &err, &rc);

		if (rc != -EINVAL)
			fail_msg("%s: rc %d, not -EINVAL", invalid[i].json, rc);
		assert_null(r);
		assert_int_equal(err.code, -EINVAL);
		if (strcmp(err.message, invalid[i].message))
			fail_msg("%s:\n got  %s\n want %s", invalid[i].json,
				 err.message, invalid[i].message);
	}
	/* id and namespace are required */
	json_t *j = json_object();
	uint8_t *buf = NULL;
	size_t len = 0;
	struct flpb_error err = {0};

	assert_int_equal(flpb_create_request(j, "", "ns", &buf, &len, &err),
			 -EINVAL);
	assert_string_equal(err.message, "id: required");
	assert_int_equal(flpb_create_request(j, "id", NULL, &buf, &len, NULL),
			 -EINVAL);
	json_decref(j);
	assert_null(buf);
}

static void test_requests(void **state)
{
	(void)state;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct flpb_error err = {0};

	assert_int_equal(flpb_get_request("01UID", &buf, &len, &err), 0);
	Microvm__Services__Api__V1alpha1__GetMicroVMRequest *g =
		microvm__services__api__v1alpha1__get_micro_vmrequest__unpack(
			NULL, len, buf);
	assert_string_equal(g->uid, "01UID");
	microvm__services__api__v1alpha1__get_micro_vmrequest__free_unpacked(
		g, NULL);
	free(buf);

	assert_int_equal(flpb_delete_request("01DEL", &buf, &len, &err), 0);
	Microvm__Services__Api__V1alpha1__DeleteMicroVMRequest *d =
		microvm__services__api__v1alpha1__delete_micro_vmrequest__unpack(
			NULL, len, buf);
	assert_string_equal(d->uid, "01DEL");
	microvm__services__api__v1alpha1__delete_micro_vmrequest__free_unpacked(
		d, NULL);
	free(buf);
	assert_int_equal(flpb_delete_request("", &buf, &len, &err), -EINVAL);

	assert_int_equal(flpb_list_request("ns", "vm-1", &buf, &len, &err), 0);
	Microvm__Services__Api__V1alpha1__ListMicroVMsRequest *l =
		microvm__services__api__v1alpha1__list_micro_vms_request__unpack(
			NULL, len, buf);
	assert_string_equal(l->namespace_, "ns");
	assert_int_equal(
		l->_name_case,
		MICROVM__SERVICES__API__V1ALPHA1__LIST_MICRO_VMS_REQUEST___NAME_NAME);
	assert_string_equal(l->name, "vm-1");
	microvm__services__api__v1alpha1__list_micro_vms_request__free_unpacked(
		l, NULL);
	free(buf);
	/* NULL: no name, the whole namespace */
	assert_int_equal(flpb_list_request("ns", NULL, &buf, &len, &err), 0);
	l = microvm__services__api__v1alpha1__list_micro_vms_request__unpack(
		NULL, len, buf);
	assert_int_equal(
		l->_name_case,
		MICROVM__SERVICES__API__V1ALPHA1__LIST_MICRO_VMS_REQUEST___NAME__NOT_SET);
	microvm__services__api__v1alpha1__list_micro_vms_request__free_unpacked(
		l, NULL);
	free(buf);
	assert_int_equal(flpb_list_request("", NULL, &buf, &len, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "namespace: required"));
}

/* Packs a MicroVM as flintlockd would answer. */
static Flintlock__Types__MicroVM *vm_msg(Flintlock__Types__MicroVM *m,
					 Flintlock__Types__MicroVMSpec *s,
					 Flintlock__Types__MicroVMStatus *st,
					 const char *uid, const char *id,
					 int state)
{
	flintlock__types__micro_vm__init(m);
	flintlock__types__micro_vmspec__init(s);
	flintlock__types__micro_vmstatus__init(st);
	m->version = 3;
	m->spec = s;
	m->status = st;
	s->id = (char *)id;
	s->namespace_ = "ns";
	if (uid != NULL) {
		s->uid = (char *)uid;
		s->_uid_case = FLINTLOCK__TYPES__MICRO_VMSPEC___UID_UID;
	}
	st->state = (Flintlock__Types__MicroVMStatus__MicroVMState)state;
	st->retry = 1;
	return m;
}

static void test_replies(void **state)
{
	(void)state;
	Flintlock__Types__MicroVM m[3];
	Flintlock__Types__MicroVMSpec s[3];
	Flintlock__Types__MicroVMStatus st[3];
	Microvm__Services__Api__V1alpha1__CreateMicroVMResponse cr =
		MICROVM__SERVICES__API__V1ALPHA1__CREATE_MICRO_VMRESPONSE__INIT;
	uint8_t buf[1024];
	size_t n;
	struct flpb_vm vm;
	struct flpb_error err = {0};

	cr.microvm = vm_msg(&m[0], &s[0], &st[0], "01UID", "vm-1", 0);
	n = protobuf_c_message_pack(&cr.base, buf);
	assert_int_equal(flpb_create_response(buf, n, &vm, &err), 0);
	assert_string_equal(vm.uid, "01UID");
	assert_string_equal(vm.id, "vm-1");
	assert_string_equal(vm.namespace_, "ns");
	assert_int_equal(vm.state, FLPB_STATE_PENDING);
	assert_int_equal(vm.retry, 1);
	assert_int_equal(vm.version, 3);
	/* Get and Create replies have the same shape */
	assert_int_equal(flpb_get_response(buf, n, &vm, &err), 0);

	/* no uid */
	cr.microvm = vm_msg(&m[0], &s[0], &st[0], NULL, "vm-1", 1);
	n = protobuf_c_message_pack(&cr.base, buf);
	assert_int_equal(flpb_create_response(buf, n, &vm, &err), -EINVAL);
	assert_string_equal(err.message, "microvm.spec.uid: missing");
	/* no status: state unknown */
	cr.microvm = vm_msg(&m[0], &s[0], &st[0], "u", "vm-1", 1);
	cr.microvm->status = NULL;
	n = protobuf_c_message_pack(&cr.base, buf);
	assert_int_equal(flpb_create_response(buf, n, &vm, &err), 0);
	assert_int_equal(vm.state, FLPB_STATE_UNKNOWN);
	/* no microvm; garbage */
	cr.microvm = NULL;
	n = protobuf_c_message_pack(&cr.base, buf);
	assert_int_equal(flpb_create_response(buf, n, &vm, &err), -EINVAL);
	assert_string_equal(err.message, "microvm: no microvm");
	static const uint8_t junk[] = {0x0a, 0x7f, 0x01};
	assert_int_equal(flpb_get_response(junk, sizeof(junk), &vm, &err),
			 -EINVAL);
	assert_string_equal(err.message,
			    "GetMicroVMResponse: not a valid protobuf message");

	Microvm__Services__Api__V1alpha1__ListMicroVMsResponse lr =
		MICROVM__SERVICES__API__V1ALPHA1__LIST_MICRO_VMS_RESPONSE__INIT;
	Flintlock__Types__MicroVM *list[3] = {
		vm_msg(&m[0], &s[0], &st[0], "u0", "a", 1),
		vm_msg(&m[1], &s[1], &st[1], "u1", "a", 3),
		vm_msg(&m[2], &s[2], &st[2], "u2", "b", 2),
	};
	struct flpb_vm *vms = NULL;
	size_t nv = 0;

	lr.n_microvm = 3;
	lr.microvm = list;
	n = protobuf_c_message_pack(&lr.base, buf);
	assert_int_equal(flpb_list_response(buf, n, &vms, &nv, &err), 0);
	assert_int_equal(nv, 3);
	assert_string_equal(vms[1].uid, "u1");
	assert_int_equal(vms[1].state, FLPB_STATE_DELETING);
	assert_string_equal(flpb_state_name(vms[2].state), "FAILED");
	free(vms);
	lr.n_microvm = 0;
	n = protobuf_c_message_pack(&lr.base, buf);
	assert_int_equal(flpb_list_response(buf, n, &vms, &nv, &err), 0);
	assert_int_equal(nv, 0);
	assert_null(vms);
	/* one bad entry fails the list, naming it */
	lr.n_microvm = 2;
	list[1]->spec->_uid_case = FLINTLOCK__TYPES__MICRO_VMSPEC___UID__NOT_SET;
	n = protobuf_c_message_pack(&lr.base, buf);
	assert_int_equal(flpb_list_response(buf, n, &vms, &nv, &err), -EINVAL);
	assert_string_equal(err.message, "microvm[1].spec.uid: missing");
	assert_string_equal(flpb_state_name(7), "UNKNOWN");
}

/* Allocation failures (STYLE.md item 8): the N-th allocation of a
 * conversion fails, N = 1, 2, ... until one succeeds; each must return
 * -ENOMEM and leave nothing allocated (test/lib/nomem.h: not under ASan,
 * which has its own malloc, nor valgrind). */
static void test_nomem(void **state)
{
	(void)state;
	nomem_require();
#ifndef NOMEM_SKIP
	json_t *j = json_loads(full, 0, NULL);
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = -ENOMEM;
	long n;

	assert_non_null(j);
	for (n = 1; rc == -ENOMEM && n < 10000; n++) {
		long lk;

		nomem_arm(n);
		rc = flpb_create_request(j, "vm", "ns", &buf, &len, NULL);
		nomem_disarm();
		if (rc == 0)
			free(buf);
		lk = nomem_leaked();
		if (rc != 0 && rc != -ENOMEM)
			fail_msg("allocation %ld failing: rc %d", n, rc);
		if (rc != 0 && lk != 0)
			fail_msg("allocation %ld failing: %ld blocks leaked", n,
				 lk);
	}
	assert_int_equal(rc, 0);
	print_message("create request: %ld allocation failures, each clean\n",
		      n - 2);
	json_decref(j);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_spec),
		cmocka_unit_test(test_proto_names),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_nomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
