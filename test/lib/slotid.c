#include "test/lib/slotid.h"

#include <stdio.h>

#include "common/model.h"

bool slotid_of(char *out, size_t len, const char *stem, unsigned slot,
	       unsigned k, unsigned skip)
{
	for (unsigned n = 0; n < 1000; n++) {
		snprintf(out, len, "%s%u", stem, n);
		if (fs_slot_of(out, k) == slot && skip-- == 0)
			return true;
	}
	return false;
}
