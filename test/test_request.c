/* Request validation: table of valid and invalid values side by side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"
#include "controller/ctrl.h"

struct req_case {
	const char *id;
	const char *json;
	const char *reason; /* NULL = valid; else substring of the reason */
};

/* Pieces of a spec a real flintlockd accepts (FS_SPEC_EXAMPLE's). */
#define KERN                                                                   \
	"\"kernel\":{\"image\":\"ghcr.io/example/kernel:6.1\",\"filename\":"   \
	"\"boot/vmlinux\"}"
#define ROOT                                                                   \
	"\"rootVolume\":{\"id\":\"root\",\"source\":{\"containerSource\":"     \
	"\"ghcr.io/example/ubuntu:22.04\"}}"
#define NIC "\"interfaces\":[{\"deviceId\":\"eth1\",\"type\":\"TAP\"}]"
#define RES "\"vcpu\":2,\"memoryInMb\":2048,"
#define OK_ RES KERN "," ROOT "," NIC /* a valid spec's members */
#define SPEC(...) "{" __VA_ARGS__ "}"
/* A valid spec but for one interface's members. */
#define WITH_NIC(m) SPEC(RES KERN "," ROOT ",\"interfaces\":[{" m "}]")
#define TAP "\"deviceId\":\"eth1\",\"type\":\"TAP\""
/* A valid spec but for its kernel. */
#define WITH_KERN(k) SPEC(RES ROOT "," NIC ",\"kernel\":" k)

static const struct req_case cases[] = {
    /* ---- valid ---------------------------------------------------- */
    {"web-1", SPEC(OK_), NULL},
    {"web-1", "{\"vcpu\":2,\"memoryInMb\":2048," FS_SPEC_EXAMPLE "}", NULL},
    {"web-1",
     SPEC("\"id\":\"web-1\",\"namespace\":\"team-a\",\"vcpu\":64,"
	  "\"memoryInMb\":32768," KERN "," ROOT "," NIC
	  ",\"scheduling\":{\"selector\":{\"zone\":\"a\"},\"spread\":"
	  "\"web\",\"priority\":10}"),
     NULL},
    /* proto spellings, as flintlockd's protojson takes them */
    {"web-1",
     SPEC("\"vcpu\":1,\"memory_in_mb\":1024,\"kernel\":{\"image\":"
	  "\"ghcr.io/k:1\",\"filename\":\"vmlinux\",\"add_network_config\":"
	  "true},\"root_volume\":{\"id\":\"root\",\"is_read_only\":false,"
	  "\"source\":{\"container_source\":\"ghcr.io/os:1\"}},"
	  "\"additional_volumes\":[{\"id\":\"d\",\"size_in_mb\":10}],"
	  "\"interfaces\":[{\"device_id\":\"eth1\",\"type\":\"TAP\","
	  "\"guest_mac\":\"AA:bb:cc:dd:ee:01\",\"address\":{\"address\":"
	  "\"10.0.0.5/24\"}}],\"allow_guest_agent\":true"),
     NULL},
    /* vcpu and memory omitted or null: flintlockd's defaults */
    {"a", SPEC(KERN "," ROOT "," NIC), NULL},
    {"a", SPEC("\"vcpu\":null,\"memoryInMb\":null," KERN "," ROOT "," NIC),
     NULL},
    /* an initrd instead of a root volume; no kernel at all */
    {"a", SPEC(RES NIC ",\"initrd\":{\"image\":\"ghcr.io/initrd:1\"}"), NULL},
    {"a", SPEC(RES ROOT "," NIC), NULL},
    {"a", WITH_KERN("{}"), NULL},
    {"a", WITH_KERN("{\"addNetworkConfig\":false,\"image\":\"\"}"), NULL},
    {"a", WITH_KERN("null"), NULL},
    /* image references containerd parses */
    {"a",
     WITH_KERN("{\"image\":\"registry.local:5000/k@sha256:ab\","
	       "\"filename\":\"k\"}"),
     NULL},
    {"a", WITH_KERN("{\"image\":\"localhost/k\",\"filename\":\"k\"}"), NULL},
    {"a", WITH_KERN("{\"image\":\"ubuntu\",\"filename\":\"k\"}"), NULL},
    {"a", WITH_KERN("{\"image\":\" ghcr.io/k:1\\n\",\"filename\":\"k\"}"),
     NULL},
    {"a", WITH_KERN("{\"image\":\"[::1]:5000/k\",\"filename\":\"k\"}"), NULL},
    /* every interface field */
    {"a",
     WITH_NIC(TAP ",\"guestMac\":\"aa-bb-cc-dd-ee-ff\",\"address\":{"
		  "\"address\":\"fd00::5/64\",\"gateway\":\"fd00::1/64\","
		  "\"nameservers\":[\"1.1.1.1\",\"2606:4700::1111\"]},"
		  "\"overrides\":{\"bridgeName\":\"br0\"}"),
     NULL},
    {"a", WITH_NIC(TAP ",\"guestMac\":\"\",\"overrides\":null"), NULL},
    /* unknown fields are flintlockd's to ignore; labels, metadata */
    {"a",
     SPEC(OK_ ",\"labels\":{\"x\":\"y\"},\"metadata\":{\"meta-data\":"
	      "\"aW5zdGFuY2VfaWQ6IHgK\",\"user-data\":\"#!\"},\"future\":1,"
	      "\"provider\":\"firecracker\",\"uid\":\"ignored\""),
     NULL},
    /* cloud-hypervisor hosts take macvtap and one virtiofs volume */
    {"a",
     SPEC(RES KERN
	  "," ROOT ",\"provider\":\"cloudhypervisor\","
	  "\"interfaces\":[{\"deviceId\":\"eth1\",\"type\":\"MACVTAP\"}],"
	  "\"additionalVolumes\":[{\"id\":\"fs\",\"source\":"
	  "{\"virtiofsSource\":\"/srv\"}}]"),
     NULL},
    {"a", SPEC(OK_ ",\"scheduling\":{}"), NULL},

    /* ---- invalid: the document ------------------------------------ */
    {"web-1", "{\"vcpu\":2,", "invalid JSON"},
    {"web-1", "[1,2]", "must be a JSON object"},
    {"web-1", SPEC(OK_ ",\"vcpu\":1"), "invalid JSON"}, /* duplicate */
    {"Web_1", SPEC(OK_), "id: \"Web_1\" is not a valid request id"},
    /* ---- vcpu, memoryInMb (core/models/microvm.go) ----------------- */
    {"a", SPEC("\"vcpu\":0,\"memoryInMb\":1024," KERN "," ROOT "," NIC),
     "vcpu: must be 1..64, got 0; omit it for flintlockd's default of 2"},
    {"a", SPEC("\"vcpu\":65," KERN "," ROOT "," NIC),
     "vcpu: must be 1..64, got 65"},
    {"a", SPEC("\"vcpu\":-5," KERN "," ROOT "," NIC),
     "vcpu: must be 1..64, got -5"},
    {"a", SPEC("\"memoryInMb\":512," KERN "," ROOT "," NIC),
     "memoryInMb: must be 1024..32768, got 512"},
    {"a", SPEC("\"memory_in_mb\":40000," KERN "," ROOT "," NIC),
     "memory_in_mb: must be 1024..32768, got 40000"},
    {"a", SPEC("\"vcpu\":\"2\"," KERN "," ROOT "," NIC),
     "vcpu: must be an integer, got a string"},
    {"a", SPEC("\"vcpu\":1.5," KERN "," ROOT "," NIC),
     "vcpu: must be an integer, got a number with a fraction"},
    {"a", SPEC("\"vcpu\":3000000000," KERN "," ROOT "," NIC),
     "vcpu: 3000000000 does not fit flintlockd's int32"},
    /* issue 13 item 21: numbers jansson cannot hold name their field */
    {"a", SPEC("\"vcpu\":9223372036854775808," KERN "," ROOT "," NIC),
     "vcpu: number too large"},
    {"a", SPEC("\"vcpu\":1e400," KERN "," ROOT "," NIC),
     "vcpu: number too large"},
    {"a", SPEC(OK_ ",\"scheduling\":{\"priority\":18446744073709551616}"),
     "scheduling.priority: number too large"},
    {"a", SPEC(OK_ ",\"scheduling\":{\"priority\":-18446744073709551616}"),
     "scheduling.priority: number too large"},
    {"a",
     SPEC(RES KERN "," ROOT ",\"interfaces\":[{\"deviceId\":\"e\\\"}\","
		    "\"x\":[1,{\"y\":2e999}]}]"),
     "interfaces[0].x[1].y: number too large"},
    /* the words inside a string are a syntax error, and its raw bytes
     * never reach the reason (found by fuzz_records) */
    {"a", "{\"vcpu\":3,\"too big integer\x7f\x82",
     "request: invalid JSON at line 1 column"},
    {"a", SPEC(OK_ ",\"memory_in_mb\":2048"),
     "memoryInMb: given twice, as memoryInMb and memory_in_mb"},
    {"a", SPEC(KERN "," ROOT "," NIC ",\"memoryInMB\":4096"),
     "memoryInMB: unknown field, which flintlockd ignores; did you mean "
     "memoryInMb?"},
    /* ---- id and namespace: the scheduler's ------------------------- */
    {"web-1", SPEC(OK_ ",\"id\":\"web-2\""),
     "id: \"web-2\" does not match the key's id \"web-1\""},
    {"web-1", SPEC(OK_ ",\"id\":3"), "id: must be a string"},
    {"a", SPEC(OK_ ",\"namespace\":5"), "namespace: must be a string"},
    {"a", SPEC(OK_ ",\"namespace\":\"../etc\""),
     "namespace: \"../etc\" is not a valid namespace"},
    {"a", SPEC(OK_ ",\"namespace\":\"\""),
     "namespace: \"\" is not a valid namespace"},
    /* echoed bounded and escaped, never raw control bytes */
    {"a", SPEC(OK_ ",\"namespace\":\"a\\u0001\\\"\\\\\\u00e9\""),
     "namespace: \"a\\x01\\\"\\\\\\xc3\\xa9\" is not"},
    {"a",
     SPEC(OK_ ",\"namespace\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
     "namespace: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" "
     "is not"},
    /* ---- interfaces (network.go, commands.go capabilities) --------- */
    {"a", SPEC(RES KERN "," ROOT),
     "interfaces: missing; flintlockd needs "
     "at least one"},
    {"a", SPEC(RES KERN "," ROOT ",\"interfaces\":[]"), "interfaces: missing"},
    {"a", SPEC(RES KERN "," ROOT ",\"interfaces\":{}"),
     "interfaces: must be an array, got an object"},
    {"a", SPEC(RES KERN "," ROOT ",\"interfaces\":[5]"),
     "interfaces[0]: must be an object, got an integer"},
    {"a", WITH_NIC("\"deviceId\":\"eth1\",\"type\":\"MACVTAP\""),
     "interfaces[0].type: must be \"TAP\" (firecracker supports no "
     "macvtap), got \"MACVTAP\""},
    {"a", WITH_NIC("\"deviceId\":\"eth1\""),
     "interfaces[0].type: must be \"TAP\" (firecracker supports no "
     "macvtap), got nothing (the default is MACVTAP)"},
    {"a", WITH_NIC("\"deviceId\":\"eth1\",\"type\":1"),
     "interfaces[0].type: must be the name \"TAP\", got 1"},
    {"a", WITH_NIC("\"deviceId\":\"eth1\",\"type\":\"tap\""),
     "interfaces[0].type: must be \"TAP\" or \"MACVTAP\", got \"tap\""},
    {"a", WITH_NIC("\"deviceId\":\"eth1\",\"type\":true"),
     "interfaces[0].type: must be a name such as \"TAP\", got a boolean"},
    {"a", WITH_NIC("\"type\":\"TAP\""), "interfaces[0].deviceId: missing"},
    {"a", WITH_NIC("\"deviceId\":\"Eth1\",\"type\":\"TAP\""),
     "interfaces[0].deviceId: must match ^[a-z][a-z0-9_]*$, got \"Eth1\""},
    {"a", WITH_NIC("\"DeviceId\":\"eth1\",\"type\":\"TAP\""),
     "interfaces[0].DeviceId: unknown field, which flintlockd ignores; "
     "did you mean deviceId?"},
    {"a", WITH_NIC(TAP ",\"guestMac\":\"aa:bb:cc:dd:ee\""),
     "interfaces[0].guestMac: \"aa:bb:cc:dd:ee\" is not a MAC address"},
    {"a", WITH_NIC(TAP ",\"address\":{\"address\":\"10.0.0.5\"}"),
     "interfaces[0].address.address: must be an address in CIDR form"},
    {"a", WITH_NIC(TAP ",\"address\":{}"),
     "interfaces[0].address.address: must be an address in CIDR form like "
     "10.0.0.5/24, got nothing"},
    {"a", WITH_NIC(TAP ",\"address\":{\"address\":\"10.0.0.5/33\"}"),
     "interfaces[0].address.address: must be"},
    {"a",
     WITH_NIC(TAP ",\"address\":{\"address\":\"10.0.0.5/24\",\"gateway\":"
		  "\"10.0.0.1\"}"),
     "interfaces[0].address.gateway: must be in CIDR form"},
    {"a",
     WITH_NIC(TAP ",\"address\":{\"address\":\"10.0.0.5/24\","
		  "\"nameservers\":[\"1.1.1\"]}"),
     "interfaces[0].address.nameservers[0]: \"1.1.1\" is not an IP"},
    {"a",
     WITH_NIC(TAP ",\"address\":{\"address\":\"10.0.0.5/24\","
		  "\"nameservers\":[1]}"),
     "interfaces[0].address.nameservers[0]: must be a string"},
    {"a", WITH_NIC(TAP ",\"overrides\":{}"),
     "interfaces[0].overrides.bridgeName: missing; flintlockd crashes"},
    /* ---- kernel (kernel.go, omitempty) ------------------------------ */
    {"a", WITH_KERN("{\"image\":\"ghcr.io/k:1\"}"),
     "kernel.filename: missing; required with a kernel"},
    {"a", WITH_KERN("{\"filename\":\"vmlinux\"}"), "kernel.image: missing"},
    {"a", WITH_KERN("{\"cmdline\":{}}"), "kernel.image: missing"},
    {"a", WITH_KERN("{\"image\":\"ubuntu:22.04\",\"filename\":\"k\"}"),
     "kernel.image: \"ubuntu:22.04\" is not an image reference flintlockd "
     "can parse"},
    {"a", WITH_KERN("{\"image\":\"https://ghcr.io/k\",\"filename\":\"k\"}"),
     "kernel.image: \"https://ghcr.io/k\" is not an image reference"},
    {"a", WITH_KERN("{\"image\":\"/k\",\"filename\":\"k\"}"),
     "kernel.image: \"/k\" is not"},
    {"a", WITH_KERN("{\"image\":\"gh cr.io/k\",\"filename\":\"k\"}"),
     "kernel.image: \"gh cr.io/k\" is not"},
    {"a", WITH_KERN("{\"image\":\"ghcr.io/k%zz\",\"filename\":\"k\"}"),
     "kernel.image: \"ghcr.io/k%zz\" is not"},
    {"a", WITH_KERN("[]"), "kernel: must be an object, got an array"},
    {"a", WITH_KERN("{\"cmdline\":{\"console\":1}}"),
     "kernel.cmdline.console: must be a string, got an integer"},
    {"a", WITH_KERN("{\"addNetworkConfig\":\"yes\"}"),
     "kernel.addNetworkConfig: must be true or false, got a string"},
    /* ---- volumes (validate.go) ------------------------------------- */
    {"a", SPEC(RES KERN "," NIC),
     "rootVolume: missing; flintlockd needs a root volume or an initrd"},
    {"a", SPEC(RES KERN "," NIC ",\"rootVolume\":{}"), "rootVolume: missing"},
    {"a", SPEC(RES KERN "," NIC ",\"rootVolume\":{\"source\":{}}"),
     "rootVolume: missing"},
    {"a",
     SPEC(RES KERN "," NIC ",\"rootVolume\":{\"id\":\"r\",\"source\":"
		   "{\"virtiofsSource\":\"/srv\"}}"),
     "rootVolume.source.virtiofsSource: not allowed on the root volume"},
    {"a", SPEC(RES KERN "," NIC ",\"initrd\":{\"filename\":\"i\"}"),
     "initrd.image: missing"},
    {"a", SPEC(RES KERN "," NIC ",\"initrd\":{\"image\":\"x y:z\"}"),
     "initrd.image: \"x y:z\" is not an image reference"},
    {"a",
     SPEC(OK_ ",\"additionalVolumes\":[{\"id\":\"fs\",\"source\":"
	      "{\"virtiofsSource\":\"/srv\"}}]"),
     "additionalVolumes[0].source.virtiofsSource: firecracker supports no "
     "virtiofs"},
    {"a",
     SPEC(OK_ ",\"provider\":\"cloudhypervisor\",\"additionalVolumes\":["
	      "{\"source\":{\"virtiofsSource\":\"/a\"}},{\"source\":"
	      "{\"virtiofsSource\":\"/b\"}}]"),
     "additionalVolumes[1].source.virtiofsSource: at most one virtiofs"},
    {"a",
     SPEC(OK_ ",\"provider\":\"cloudhypervisor\",\"additionalVolumes\":["
	      "{\"source\":{\"virtiofsSource\":\"/a\",\"containerSource\":"
	      "\"ghcr.io/x\"}}]"),
     "additionalVolumes[0].source: containerSource and virtiofsSource "
     "exclude each other"},
    {"a", SPEC(OK_ ",\"additionalVolumes\":[{\"sizeInMb\":\"big\"}]"),
     "additionalVolumes[0].sizeInMb: must be an integer, got a string"},
    /* ---- provider, metadata, labels ------------------------------- */
    {"a", SPEC(OK_ ",\"provider\":\"qemu\""),
     "provider: must be \"firecracker\" or \"cloudhypervisor\", got "
     "\"qemu\""},
    {"a", SPEC(OK_ ",\"metadata\":{\"meta-data\":\"not base64!\"}"),
     "metadata.meta-data: must be base64"},
    {"a", SPEC(OK_ ",\"metadata\":{\"x\":5}"),
     "metadata.x: must be a string, got an integer"},
    {"a", SPEC(OK_ ",\"metadata\":{\"a b\":5}"),
     "metadata.\"a b\": must be a string, got an integer"},
    {"a", SPEC(OK_ ",\"labels\":[]"),
     "labels: must be an object of strings, got an array"},
    {"a", SPEC(OK_ ",\"allowGuestAgent\":1"),
     "allowGuestAgent: must be true or false"},
    {"a", SPEC(OK_ ",\"createdAt\":5"), "createdAt: must be a string"},
    /* ---- scheduling (the scheduler's own) ------------------------- */
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"zone\":\"a\"}"),
     "scheduling.zone: unknown key (allowed: selector, spread, "
     "priority, lost_after_s, constraints, anti_affinity, "
     "topology_spread, gang, preemptible)"},
    /* ---- constraints, anti_affinity, topology_spread (issue 18) --- */
#define SCH(x) SPEC(OK_ ",\"scheduling\":{" x "}")
    {"web-1",
     SCH("\"constraints\":[{\"key\":\"gpu\",\"op\":\"Exists\"},"
	 "{\"key\":\"zone\",\"op\":\"In\",\"values\":[\"a\",\"b\"]},"
	 "{\"key\":\"tier\",\"op\":\"NotIn\",\"values\":[\"spot\"]},"
	 "{\"key\":\"cores\",\"op\":\"Gt\",\"values\":[\"8\"]},"
	 "{\"key\":\"gen\",\"op\":\"Lt\",\"values\":[\"-2\"]},"
	 "{\"key\":\"old\",\"op\":\"DoesNotExist\",\"values\":[]}]"),
     NULL},
    {"web-1", SCH("\"constraints\":[]"), NULL},
    {"web-1", SCH("\"constraints\":{}"),
     "scheduling.constraints: must be an array of"},
    {"web-1", SCH("\"constraints\":[7]"),
     "scheduling.constraints[0]: must be an object"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"gpu\",\"op\":\"Exists\","
		  "\"value\":1}]"),
     "scheduling.constraints[0].value: unknown key (allowed: key, op, "
     "values)"},
    {"web-1", SCH("\"constraints\":[{\"op\":\"Exists\"}]"),
     "scheduling.constraints[0].key: must be a label key string, got "
     "nothing"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"a b\",\"op\":\"Exists\"}]"),
     "scheduling.constraints[0].key: \"a b\" is not a label key"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"gpu\",\"op\":\"exists\"}]"),
     "scheduling.constraints[0].op: must be In, NotIn, Exists, "
     "DoesNotExist, Gt or Lt, got \"exists\""},
    {"web-1", SCH("\"constraints\":[{\"key\":\"gpu\",\"op\":\"In\"}]"),
     "scheduling.constraints[0].values: In needs at least one value"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"gpu\",\"op\":\"Exists\","
		  "\"values\":[\"x\"]}]"),
     "scheduling.constraints[0].values: Exists takes no values"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"c\",\"op\":\"Gt\","
		  "\"values\":[\"x\"]}]"),
     "scheduling.constraints[0].values: Gt takes one integer"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"c\",\"op\":\"Lt\","
		  "\"values\":[\"1\",\"2\"]}]"),
     "scheduling.constraints[0].values: Lt takes one integer"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"c\",\"op\":\"In\","
		  "\"values\":[\"\\u00e9\"]}]"),
     "scheduling.constraints[0].values[0]: \"\\xc3\\xa9\" is not a label "
     "value"},
    {"web-1", SCH("\"constraints\":[{\"key\":\"c\",\"op\":\"In\","
		  "\"values\":[1]}]"),
     "scheduling.constraints[0].values[0]: must be a string"},
    {"web-1", SCH("\"anti_affinity\":{\"group\":\"web\"}"), NULL},
    {"web-1", SCH("\"anti_affinity\":{\"group\":\"web\",\"scope\":\"zone\"},"
		  "\"spread\":\"web\",\"topology_spread\":{\"group\":\"web\","
		  "\"key\":\"rack\",\"max_skew\":2}"),
     NULL},
    {"web-1", SCH("\"anti_affinity\":\"web\""),
     "scheduling.anti_affinity: must be an object, got a string"},
    {"web-1", SCH("\"anti_affinity\":{}"),
     "scheduling.anti_affinity.group: must be a group name string, got "
     "nothing"},
    {"web-1", SCH("\"anti_affinity\":{\"group\":\"Web\"}"),
     "scheduling.anti_affinity.group: \"Web\" is not a valid group name"},
    {"web-1", SCH("\"anti_affinity\":{\"group\":\"web\",\"hard\":true}"),
     "scheduling.anti_affinity.hard: unknown key (allowed: group scope)"},
    {"web-1", SCH("\"anti_affinity\":{\"group\":\"web\",\"scope\":\"\"}"),
     "scheduling.anti_affinity.scope: \"\" is not a label key"},
    {"web-1", SCH("\"topology_spread\":{\"group\":\"web\"}"),
     "scheduling.topology_spread.key: must be a label key string, got "
     "nothing"},
    {"web-1", SCH("\"topology_spread\":{\"group\":\"web\",\"key\":\"zone\","
		  "\"max_skew\":0}"),
     "scheduling.topology_spread.max_skew: must be an integer "
     "1..1000000, got an integer"},
    {"web-1", SCH("\"topology_spread\":{\"group\":\"db\",\"key\":\"zone\"},"
		  "\"anti_affinity\":{\"group\":\"web\"}"),
     "scheduling.topology_spread.group: must equal anti_affinity.group "
     "web (a request has one group)"},
    {"web-1", SCH("\"gang\":{\"name\":\"job\",\"size\":32}"), NULL},
    {"web-1", SCH("\"gang\":{\"name\":\"web\",\"size\":3},"
		  "\"anti_affinity\":{\"group\":\"web\"}"),
     NULL},
    {"web-1", SCH("\"gang\":{\"name\":\"job\",\"size\":33}"),
     "scheduling.gang.size: must be an integer 1..32 (a gang is placed "
     "in one etcd txn), got an integer"},
    {"web-1", SCH("\"gang\":{\"name\":\"job\"}"),
     "scheduling.gang.size: must be an integer 1..32"},
    {"web-1", SCH("\"gang\":{\"size\":2}"),
     "scheduling.gang.name: must be a group name string, got nothing"},
    {"web-1", SCH("\"gang\":{\"name\":\"job\",\"size\":2,\"x\":1}"),
     "scheduling.gang.x: unknown key (allowed: name size)"},
    {"web-1", SCH("\"gang\":{\"name\":\"job\",\"size\":2},"
		  "\"anti_affinity\":{\"group\":\"web\"}"),
     "scheduling.gang.name: must equal the group of anti_affinity / "
     "topology_spread web"},
    {"web-1", SCH("\"spread\":\"db\",\"anti_affinity\":{\"group\":\"web\"}"),
     "scheduling.spread: must equal the group of anti_affinity / "
     "topology_spread web"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"zo\\u0007ne\":\"a\"}"),
     "scheduling.\"zo\\x07ne\": unknown key"},
    {"web-1", SPEC(OK_ ",\"scheduling\":[]"), "scheduling: must be an object"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"selector\":\"a\"}"),
     "scheduling.selector: must be an object"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"selector\":{\"zone\":1}}"),
     "scheduling.selector.zone: must be a string"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"spread\":7}"),
     "scheduling.spread: must be a group name"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"spread\":\"A\\nB\"}"),
     "scheduling.spread: \"A\\x0aB\" is not a valid group name"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"priority\":\"hi\"}"),
     "scheduling.priority: must be an integer"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"preemptible\":1}"),
     "scheduling.preemptible: must be true or false, got an integer"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"preemptible\":\"no\"}"),
     "scheduling.preemptible: must be true or false, got a string"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"lost_after_s\":\"5\"}"),
     "scheduling.lost_after_s: must be an integer"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"lost_after_s\":-1}"),
     "scheduling.lost_after_s: must be 0..604800 (seconds), got -1"},
    {"web-1", SPEC(OK_ ",\"scheduling\":{\"lost_after_s\":0}"), NULL},
};

static void test_request_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctrl_request r;
		char reason[256] = "";
		int rc = ctrl_request_parse(cases[i].id, cases[i].json,
					    strlen(cases[i].json), &r, reason,
					    sizeof(reason));

		if (!cases[i].reason) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, reason);
			assert_int_equal(r.need.res.vms, 1);
			ctrl_request_clear(&r);
			continue;
		}
		if (rc != -EINVAL || !strstr(reason, cases[i].reason))
			fail_msg("case %zu: rc %d reason \"%s\", want \"%s\"",
				 i, rc, reason, cases[i].reason);
		/* a reason goes into a status: printable ASCII only */
		for (const char *p = reason; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				fail_msg("case %zu: raw byte 0x%02x in \"%s\"", i,
					 (unsigned char)*p, reason);
	}
}

static void test_request_fields(void **state)
{
	const char *j =
	    "{\"vcpu\":2,\"memoryInMb\":2048," FS_SPEC_EXAMPLE
	    ",\"scheduling\":{\"selector\":{\"zone\":\"a\",\"rack\":"
	    "\"r1\"},\"spread\":\"web\",\"priority\":-3}}";
	struct ctrl_request r;
	char reason[256];

	(void)state;
	assert_int_equal(
	    ctrl_request_parse("x", j, strlen(j), &r, reason, sizeof(reason)),
	    0);
	assert_int_equal(r.need.res.vcpu, 2);
	assert_int_equal(r.need.res.memory_mb, 2048);
	assert_int_equal(r.priority, -3);
	assert_int_equal(r.lost_after_s, -1); /* the controller's */
	assert_string_equal(r.need.spread, "web");
	assert_int_equal(r.need.selector.n, 2);
	assert_string_equal(r.need.selector.v[0].key, "zone");
	assert_string_equal(r.need.selector.v[1].value, "r1");
	ctrl_request_clear(&r);
	ctrl_request_clear(&r); /* idempotent */
}

/* Without vcpu and memory the scheduler reserves what flintlockd will
 * give the VM; the proto spelling counts the same; the agent reads the
 * assignment's spec back with the same defaults (fs_spec_res). */
static void test_request_defaults(void **state)
{
	static const struct {
		const char *json;
		int64_t vcpu, memory_mb;
	} defaults[] = {
	    {"{" FS_SPEC_EXAMPLE "}", 2, 1024},
	    {"{\"vcpu\":null,\"memoryInMb\":null," FS_SPEC_EXAMPLE "}", 2,
	     1024},
	    {"{\"vcpu\":3," FS_SPEC_EXAMPLE "}", 3, 1024},
	    {"{\"memory_in_mb\":4096," FS_SPEC_EXAMPLE "}", 2, 4096},
	    {"{\"vcpu\":1,\"memoryInMb\":1024," FS_SPEC_EXAMPLE "}", 1, 1024},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		struct ctrl_request r;
		struct fs_res res;
		char reason[256] = "";
		json_t *j;

		if (ctrl_request_parse("d", defaults[i].json,
				       strlen(defaults[i].json), &r, reason,
				       sizeof(reason)) != 0)
			fail_msg("case %zu: %s", i, reason);
		assert_int_equal(r.need.res.vcpu, defaults[i].vcpu);
		assert_int_equal(r.need.res.memory_mb, defaults[i].memory_mb);
		assert_int_equal(r.need.res.vms, 1);
		assert_true(r.preemptible); /* scheduling.preemptible */
		ctrl_request_clear(&r);
		j = json_loads(defaults[i].json, 0, NULL);
		assert_non_null(j);
		fs_spec_res(j, &res);
		assert_int_equal(res.vcpu, defaults[i].vcpu);
		assert_int_equal(res.memory_mb, defaults[i].memory_mb);
		assert_int_equal(res.vms, 1);
		json_decref(j);
	}
}

/* One coordinator per group: the slot of a request with a hard group is
 * its group's, from the request or from an assignment holding it. */
static void test_request_slot(void **state)
{
	static const char grp[] =
	    SPEC(OK_ ",\"scheduling\":{\"topology_spread\":{\"group\":"
		 "\"web\",\"key\":\"zone\"}}");
	static const char plain[] = SPEC(OK_ ",\"scheduling\":{\"spread\":\"web\"}");
	char asg[4096];
	unsigned k = 7;

	(void)state;
	for (unsigned i = 0; i < 20; i++) {
		char id[16];

		snprintf(id, sizeof(id), "web-%u", i);
		assert_int_equal(ctrl_request_slot(id, grp, strlen(grp), false, k),
				 fs_slot_of("web", k));
		assert_int_equal(
		    ctrl_request_slot(id, plain, strlen(plain), false, k),
		    fs_slot_of(id, k));
		assert_int_equal(ctrl_request_slot(id, NULL, 0, false, k),
				 fs_slot_of(id, k));
	}
	snprintf(asg, sizeof(asg),
		 "{\"request\":%s,\"request_rev\":5,\"attempt\":1}", grp);
	assert_int_equal(ctrl_request_slot("x", asg, strlen(asg), true, k),
			 fs_slot_of("web", k));
	assert_int_equal(ctrl_request_slot("x", grp, strlen(grp), false, 1), 0);
	{
		static const char gang[] = SPEC(
		    OK_ ",\"scheduling\":{\"gang\":{\"name\":\"job\",\"size\":3}}");

		assert_int_equal(
		    ctrl_request_slot("x", gang, strlen(gang), false, k),
		    fs_slot_of("job", k));
	}
}

static void test_request_oversize(void **state)
{
	size_t n = CTRL_REQUEST_MAX + 100;
	char *big = malloc(n + 1), reason[256];
	struct ctrl_request r;
	const char *head = "{\"vcpu\":1,\"pad\":\"";

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big, head, strlen(head));
	big[n - 2] = '"';
	big[n - 1] = '}';
	big[n] = '\0';
	assert_int_equal(
	    ctrl_request_parse("big", big, n, &r, reason, sizeof(reason)),
	    -EINVAL);
	assert_non_null(strstr(reason, "over the 262144 byte limit"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_table),
	    cmocka_unit_test(test_request_fields),
	    cmocka_unit_test(test_request_defaults),
	    cmocka_unit_test(test_request_oversize),
	    cmocka_unit_test(test_request_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
