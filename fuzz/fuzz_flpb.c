/*
 * libFuzzer target for agent/flintlock_pb: the input is parsed as a spec
 * JSON and, when it parses, converted to a CreateMicroVMRequest, which
 * must then unpack with protobuf-c; the input is also read as the bytes
 * of each reply flintlockd could send (Create, Get, List).
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "agent/flintlock_pb.h"
#include "services/microvm/v1alpha1/microvms.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct flpb_error err;
	struct flpb_vm vm, *vms = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;

	if (j != NULL) {
		if (flpb_create_request(j, "vm", "ns", &buf, &len, &err) == 0) {
			Microvm__Services__Api__V1alpha1__CreateMicroVMRequest *r =
				microvm__services__api__v1alpha1__create_micro_vmrequest__unpack(
					NULL, len, buf);
			if (r == NULL)
				abort();
			microvm__services__api__v1alpha1__create_micro_vmrequest__free_unpacked(
				r, NULL);
			free(buf);
		}
		json_decref(j);
	}
	flpb_create_response(data, size, &vm, &err);
	flpb_get_response(data, size, &vm, &err);
	if (flpb_list_response(data, size, &vms, &n, &err) == 0)
		free(vms);
	return 0;
}
