/*
 * peer_identity.c - the shareholder a peer session speaks for, from its login
 * role (certificate authentication binds the certificate to the role).
 */
#include "net/peer_identity.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "net/alarm_queue.h"

char *
peer_identity_printable(const char *s)
{
	StringInfoData b;
	size_t		len = strlen(s);

	initStringInfo(&b);
	for (size_t i = 0; i < len && i < 64; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			appendStringInfoChar(&b, (char) c);
		else
			appendStringInfo(&b, "\\x%02x", c);
	}
	if (len > 64)
		appendStringInfoString(&b, "...");
	return b.data;
}

static Shareholder *
bound_peer(ShareholderList *cat, const char *role)
{
	for (int i = 0; i < cat->count; i++)
	{
		Shareholder *s = &cat->items[i];

		if (!s->is_self && s->peer_role && strcmp(s->peer_role, role) == 0)
			return s;
	}
	return NULL;
}

/* an unbound login: alarmed and refused */
static void
refuse_unbound(const char *role, const char *function, const char *shown)
{
	alarm_raise_durable("peer", psprintf("login %s", role), "critical", "unbound peer login",
						psprintf("%s was called%s%s%s by login role \"%s\", which no shareholder is bound to",
								 function, shown ? " in the name of \"" : "", shown ? shown : "",
								 shown ? "\"" : "", role));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("login role \"%s\" is not bound to a shareholder", role),
			 errdetail("%s speaks only for the shareholder whose peer_role is the session's login role.", function),
			 errhint("Bind each peer's login role to its entry: ssn.add_shareholder(..., peer_role => ...), or UPDATE ssn.shareholder SET peer_role = ... WHERE name = ....")));
}

Shareholder *
peer_identity_require(ShareholderList *cat, const char *claimed, const char *function)
{
	Oid			login = GetSessionUserId();
	char	   *role = GetUserNameFromId(login, false);
	Shareholder *caller = bound_peer(cat, role);
	char	   *shown = peer_identity_printable(claimed);

	if (caller != NULL)
	{
		if (strcmp(caller->name, claimed) == 0)
			return caller;
		alarm_raise_durable("peer", caller->name, "critical", "peer spoke in another node's name",
							psprintf("%s was called in the name of \"%s\" by login role \"%s\"",
									 function, shown, role));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("peer \"%s\" may not call %s in the name of \"%s\"", caller->name, function, shown),
				 errdetail("Its login role \"%s\" is bound to shareholder \"%s\" (ssn.shareholder.peer_role).",
						   role, caller->name)));
	}
	/* an operator of this node, by hand: speaks for the peer it names */
	if (superuser_arg(login))
		return catalog_require_peer(cat, shown);
	refuse_unbound(role, function, shown);
	return NULL;				/* not reached */
}

Shareholder *
peer_identity_caller(ShareholderList *cat, const char *function)
{
	Oid			login = GetSessionUserId();
	char	   *role = GetUserNameFromId(login, false);
	Shareholder *caller = bound_peer(cat, role);

	if (caller == NULL && !superuser_arg(login))
		refuse_unbound(role, function, NULL);
	return caller;
}
