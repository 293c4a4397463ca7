/*
 * slotid — request ids of a chosen coordinator slot, for tests that need
 * requests of two slots (preemption across slots): "<stem><n>" for the
 * n whose fs_slot_of(id, k) is slot.
 */
#ifndef FLINTSCHED_TEST_SLOTID_H
#define FLINTSCHED_TEST_SLOTID_H

#include <stdbool.h>
#include <stddef.h>

/* The skip-th (from 0) such id into out; false when none below n=1000. */
bool slotid_of(char *out, size_t len, const char *stem, unsigned slot,
	       unsigned k, unsigned skip);

#endif
