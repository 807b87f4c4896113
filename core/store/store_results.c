/* store_roster_items_free, store_roster_item_clear, store_offline_msgs_free,
 * store_strings_free, store_mam_results_free and store_pep_results_free
 * (store_thread.h), in a file
 * of their own: the router's roster module needs them, and a program that
 * replaces the storage thread (the c2s fuzz harness) must not get
 * store_thread.c linked in with it. */
#include "core/store/store_thread.h"

#include <stdlib.h>

void store_roster_items_free(struct store_roster_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		free(items[i].contact);
		free(items[i].name);
		free(items[i].groups);
	}
	free(items);
}

void store_roster_item_clear(struct store_roster_item *it)
{
	free(it->contact);
	free(it->name);
	free(it->groups);
	it->contact = it->name = it->groups = NULL;
}

void store_offline_msgs_free(struct store_offline_msg *msgs, size_t n)
{
	for (size_t i = 0; msgs && i < n; i++)
		free(msgs[i].xml);
	free(msgs);
}

void store_strings_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void store_mam_results_free(struct store_mam_result *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].stanza_id);
		free(r[i].with);
		free(r[i].xml);
	}
	free(r);
}

void store_pep_results_free(struct store_pep_result *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].owner);
		free(r[i].node);
		free(r[i].id);
		free(r[i].xml);
	}
	free(r);
}
