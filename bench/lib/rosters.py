#!/usr/bin/env python3
"""Rosters for xmppload's presence scenario, written straight into each
server's storage before the run (bench-only shortcuts: no server has to
process a roster set per item, and no client sets anything up during the
measured phase).

The rosters form a ring over the users first..first+n-1: the user with
index i (0-based) has the 2*(k/2) = k contacts of indices i-k/2..i-1 and
i+1..i+k/2 (mod n), every item subscription 'both', no ask, no name, no
groups.  The relation is symmetric, so every contact is mutual and each
roster has exactly k items: xmppload's `--roster-size k` checks the count
at login and computes which receivers each presence change is owed to
from the same ring (bench/xmppload/client.c, roster_slot).

    rosters.py xmppd DB N K [--first 1] [--user-format user%d] [--domain localhost]

fills an xmppd SQLite store (server stopped); bench/lib/compare.py imports
the module for the three servers.
"""
import argparse
import os
import shutil
import sqlite3
import time


def ring(n, k, first=1):
    """(user number, [contact numbers]) for every user of the ring."""
    if k % 2 or k < 0 or (k and k >= n):
        raise ValueError(f"roster size {k} must be even and below the {n} users")
    h = k // 2
    for i in range(n):
        yield first + i, [first + (i + d) % n for d in range(-h, h + 1) if d]


def xmppd(db_path, n, k, user_fmt="user%d", domain="localhost", first=1):
    """Replaces every roster of domain in xmppd's store (schema 5:
    roster(domain, localpart, contact, name, subscription, ask, groups),
    subscription 3 = both, ask 0, groups '').  The server must be stopped:
    a running xmppd keeps online users' rosters in memory.  Returns the
    number of items written."""
    db = sqlite3.connect(db_path)
    rows = 0
    with db:
        db.execute("DELETE FROM roster WHERE domain = ?", (domain,))
        db.execute("DELETE FROM roster_version WHERE domain = ?", (domain,))
        for u, cs in ring(n, k, first):
            lp = user_fmt % u
            db.executemany("INSERT INTO roster (domain, localpart, contact, name, subscription,"
                           " ask, groups) VALUES (?, ?, ?, NULL, 3, 0, '')",
                           [(domain, lp, f"{user_fmt % c}@{domain}") for c in cs])
            rows += len(cs)
    db.close()
    return rows


def prosody(data_dir, n, k, user_fmt="user%d", domain="localhost", first=1):
    """Writes Prosody's internal (file) storage: DATA/HOST/roster/USER.dat,
    one Lua table per user as rostermanager saves it ([false] holds the
    version and pending requests).  Replaces the whole roster directory.
    Localparts must need no escaping in file names (user%d does not)."""
    rdir = os.path.join(data_dir, domain.replace(".", "%2e"), "roster")
    shutil.rmtree(rdir, ignore_errors=True)
    if k == 0:
        return 0
    os.makedirs(rdir, exist_ok=True)
    rows = 0
    for u, cs in ring(n, k, first):
        parts = ['return {\n\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n\t};\n']
        for c in cs:
            parts.append('\t["%s@%s"] = {\n\t\t["subscription"] = "both";\n\t\t["groups"] = {};\n\t};\n'
                         % (user_fmt % c, domain))
        parts.append("};\n")
        with open(os.path.join(rdir, (user_fmt % u) + ".dat"), "w") as f:
            f.write("".join(parts))
        rows += len(cs)
    return rows


def ejabberd_expr(node, n, k, user_fmt="user%d", domain="localhost", first=1):
    """An Erlang expression (for `erl -eval` on a hidden node next to the
    server) that empties ejabberd's Mnesia roster and roster_version
    tables and writes the ring with mnesia:dirty_write, one rpc for all
    items (ejabberdctl add_rosteritem starts a node per item).  The tuple
    is ejabberd 23.01's #roster{} (include/mod_roster.hrl): usj, us, jid,
    name, subscription, ask, groups, askmessage, xs.  Prints rows=N."""
    pre, _, post = user_fmt.partition("%d")
    h = k // 2
    return (
        f'Node = \'{node}\', N = {n}, H = {h}, F = {first}, S = <<"{domain}">>, '
        f'Name = fun(I) -> list_to_binary("{pre}" ++ integer_to_list(F + I) ++ "{post}") end, '
        'Recs = [begin U = Name(I), C = Name((I + D + N) rem N), '
        '{roster, {U, S, {C, S, <<>>}}, {U, S}, {C, S, <<>>}, <<>>, both, none, [], <<>>, []} end '
        '|| I <- lists:seq(0, N - 1), D <- lists:seq(-H, -1) ++ lists:seq(1, H)], '
        '{atomic, ok} = rpc:call(Node, mnesia, clear_table, [roster]), '
        '{atomic, ok} = rpc:call(Node, mnesia, clear_table, [roster_version]), '
        'ok = rpc:call(Node, lists, foreach, [fun mnesia:dirty_write/1, Recs], 1800000), '
        'io:format("rows=~p~n", [rpc:call(Node, mnesia, table_info, [roster, size])])')


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("server", choices=["xmppd"])
    ap.add_argument("db")
    ap.add_argument("users", type=int)
    ap.add_argument("roster_size", type=int)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--user-format", default="user%d")
    ap.add_argument("--domain", default="localhost")
    a = ap.parse_args()
    t = time.monotonic()
    rows = xmppd(a.db, a.users, a.roster_size, a.user_format, a.domain, a.first)
    print(f"rosters: {rows} items for {a.users} users in {a.db} in {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main()
