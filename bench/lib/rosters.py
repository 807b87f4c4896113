#!/usr/bin/env python3
"""Rosters for xmppload's presence and idle-roster scenarios, written
straight into each server's storage before the run (bench-only shortcuts:
no server has to process a roster set per item, and no client sets
anything up during the measured phase).

The rosters form a ring over the users first..first+n-1: the user with
index i (0-based) has the 2*(k/2) = k contacts of indices i-k/2..i-1 and
i+1..i+k/2 (mod n), every item subscription 'both', no ask, no name, no
groups.  The relation is symmetric, so every contact is mutual and each
roster has exactly k items: xmppload's `--roster-size k` checks the count
at login and computes which receivers each presence change is owed to
from the same ring (bench/xmppload/client.c, roster_slot).

The idle-roster layout (idle_layout below) is for sessions that hold a
roster of k items of which `online` are contacts that are online too:
user1..userN log in, user(N+1)..user(4N) exist and stay offline.  Online
user i (0-based) has its ring neighbours i-12..i-1, i+1..i+12 (mod N) and
the user opposite, i+N/2 (mod N): 25 online contacts, a symmetric relation
(N must be even); and the 75 offline users of offline indices 3i..3i+74
(mod 3N).  Offline user j then has exactly the 25 online users i with
(j - 3i) mod 3N below 75 in its roster, so every item is mutual.

    rosters.py xmppd DB N K [--first 1] [--user-format user%d] [--domain localhost]
    rosters.py xmppd DB N K --idle-online C    (the idle-roster layout, 4N accounts)
    rosters.py check N K [--idle-online C]     (checks a layout is mutual, prints sizes)

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


def idle_layout(n, k=100, online=25, first=1):
    """(user number, [contact numbers]) for every user of the idle-roster
    layout (module docstring): n online users first..first+n-1 with k
    items each, `online` of them online users, and 3n offline users
    first+n..first+4n-1 with the online users that list them.  Every
    relation is mutual."""
    h, m = online // 2, k - online
    if online < 0 or m < 0 or m % 3:
        raise ValueError(f"roster size {k} minus {online} online contacts must be a multiple of 3")
    if online % 2 and n % 2:
        raise ValueError(f"an odd number of online contacts ({online}) needs an even user count ({n})")
    # 2h distinct ring neighbours; the user opposite not one of them; m
    # distinct offline users.
    if n < 2 * h + 1 or (online % 2 and n // 2 <= h) or 3 * n < m:
        raise ValueError(f"{n} online users are too few for {online} online and {m} offline contacts")
    off = [[] for _ in range(3 * n)]
    for i in range(n):
        cs = [first + (i + d) % n for d in range(-h, h + 1) if d]
        if online % 2:
            cs.append(first + (i + n // 2) % n)
        for d in range(m):
            j = (3 * i + d) % (3 * n)
            cs.append(first + n + j)
            off[j].append(first + i)
        yield first + i, cs
    for j in range(3 * n):
        yield first + n + j, off[j]


def check(layout):
    """Checks that a layout is mutual and has no self or duplicate items;
    returns {user: roster size}."""
    rel = {u: list(cs) for u, cs in layout}
    for u, cs in rel.items():
        if len(set(cs)) != len(cs) or u in cs:
            raise ValueError(f"user {u}: duplicate or self item")
        for c in cs:
            if u not in rel.get(c, ()):
                raise ValueError(f"user {u} lists {c}, who does not list {u}")
    return {u: len(cs) for u, cs in rel.items()}


def layout_of(n, k, online=None, first=1):
    """The ring (online None) or the idle-roster layout."""
    return ring(n, k, first) if online is None else idle_layout(n, k, online, first)


def xmppd(db_path, n, k, user_fmt="user%d", domain="localhost", first=1, online=None):
    """Replaces every roster of domain in xmppd's store (schema 5:
    roster(domain, localpart, contact, name, subscription, ask, groups),
    subscription 3 = both, ask 0, groups '') with the ring, or with the
    idle-roster layout when `online` is given.  The server must be stopped:
    a running xmppd keeps online users' rosters in memory.  Returns the
    number of items written."""
    db = sqlite3.connect(db_path)
    rows = 0
    with db:
        db.execute("DELETE FROM roster WHERE domain = ?", (domain,))
        db.execute("DELETE FROM roster_version WHERE domain = ?", (domain,))
        for u, cs in layout_of(n, k, online, first):
            lp = user_fmt % u
            db.executemany("INSERT INTO roster (domain, localpart, contact, name, subscription,"
                           " ask, groups) VALUES (?, ?, ?, NULL, 3, 0, '')",
                           [(domain, lp, f"{user_fmt % c}@{domain}") for c in cs])
            rows += len(cs)
    db.close()
    return rows


def prosody(data_dir, n, k, user_fmt="user%d", domain="localhost", first=1, online=None):
    """Writes Prosody's internal (file) storage: DATA/HOST/roster/USER.dat,
    one Lua table per user as rostermanager saves it ([false] holds the
    version and pending requests), for the ring or (`online` given) the
    idle-roster layout.  Replaces the whole roster directory.  Localparts
    must need no escaping in file names (user%d does not)."""
    rdir = os.path.join(data_dir, domain.replace(".", "%2e"), "roster")
    shutil.rmtree(rdir, ignore_errors=True)
    if k == 0:
        return 0
    os.makedirs(rdir, exist_ok=True)
    rows = 0
    for u, cs in layout_of(n, k, online, first):
        parts = ['return {\n\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n\t};\n']
        for c in cs:
            parts.append('\t["%s@%s"] = {\n\t\t["subscription"] = "both";\n\t\t["groups"] = {};\n\t};\n'
                         % (user_fmt % c, domain))
        parts.append("};\n")
        with open(os.path.join(rdir, (user_fmt % u) + ".dat"), "w") as f:
            f.write("".join(parts))
        rows += len(cs)
    return rows


def ejabberd_expr(node, n, k, user_fmt="user%d", domain="localhost", first=1, online=None):
    """An Erlang expression (for `erl -eval` on a hidden node next to the
    server) that empties ejabberd's Mnesia roster and roster_version
    tables and writes the ring (or, `online` given, the idle-roster layout:
    the same pairs as idle_layout) with mnesia:dirty_write, one rpc per
    50,000 items (ejabberdctl add_rosteritem starts a node per item).  The
    tuple is ejabberd 23.01's #roster{} (include/mod_roster.hrl): usj, us,
    jid, name, subscription, ask, groups, askmessage, xs.  Prints rows=N."""
    pre, _, post = user_fmt.partition("%d")
    if online is None:
        h = k // 2
        pairs = ('[{I, (I + D + N) rem N} || I <- lists:seq(0, N - 1), '
                 'D <- lists:seq(-H, -1) ++ lists:seq(1, H)]')
    else:
        h, m = online // 2, k - online
        # user indices 0..N-1 online, N..4N-1 offline (offline index J = index - N)
        pairs = ('[{I, (I + D + N) rem N} || I <- lists:seq(0, N - 1), '
                 'D <- lists:seq(-H, -1) ++ lists:seq(1, H)] ++ '
                 + ('[{I, (I + N div 2) rem N} || I <- lists:seq(0, N - 1)] ++ ' if online % 2 else '')
                 + f'[{{I, N + (3 * I + D) rem (3 * N)}} || I <- lists:seq(0, N - 1), D <- lists:seq(0, {m} - 1)] ++ '
                 f'[{{N + J, ((J - D + 3 * N) rem (3 * N)) div 3}} || J <- lists:seq(0, 3 * N - 1), '
                 f'D <- lists:seq(J rem 3, {m} - 1, 3)]')
    return (
        f'Node = \'{node}\', N = {n}, H = {h}, F = {first}, S = <<"{domain}">>, '
        f'Name = fun(I) -> list_to_binary("{pre}" ++ integer_to_list(F + I) ++ "{post}") end, '
        f'Pairs = {pairs}, '
        'Rec = fun({I, J}) -> U = Name(I), C = Name(J), '
        '{roster, {U, S, {C, S, <<>>}}, {U, S}, {C, S, <<>>}, <<>>, both, none, [], <<>>, []} end, '
        '{atomic, ok} = rpc:call(Node, mnesia, clear_table, [roster]), '
        '{atomic, ok} = rpc:call(Node, mnesia, clear_table, [roster_version]), '
        'Write = fun W([]) -> ok; W(L) -> {C, Rest} = case length(L) > 50000 of '
        'true -> lists:split(50000, L); false -> {L, []} end, '
        'ok = rpc:call(Node, lists, foreach, [fun mnesia:dirty_write/1, [Rec(P) || P <- C]], 1800000), '
        'W(Rest) end, '
        'ok = Write(Pairs), '
        'io:format("rows=~p~n", [rpc:call(Node, mnesia, table_info, [roster, size])])')


def items(n, k, online=None):
    """Number of roster items the layout has in all."""
    return n * k if online is None else n * k + 3 * n * (k - online) // 3


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("server", choices=["xmppd", "check"])
    ap.add_argument("args", nargs="+", metavar="[DB] N K")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--user-format", default="user%d")
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--idle-online", type=int, default=None,
                    help="the idle-roster layout with this many online contacts per roster "
                         "(4N accounts) instead of the ring")
    a = ap.parse_args()
    want = 3 if a.server == "xmppd" else 2
    if len(a.args) != want:
        ap.error("xmppd DB N K, or check N K")
    n, k = int(a.args[-2]), int(a.args[-1])
    t = time.monotonic()
    if a.server == "check":
        sizes = check(layout_of(n, k, a.idle_online, a.first))
        hist = {}
        for v in sizes.values():
            hist[v] = hist.get(v, 0) + 1
        print(f"mutual, {len(sizes)} users, {sum(sizes.values())} items; roster sizes "
              + ", ".join(f"{c} x {v}" for v, c in sorted(hist.items())))
        return
    rows = xmppd(a.args[0], n, k, a.user_format, a.domain, a.first, a.idle_online)
    print(f"rosters: {rows} items for {n} users in {a.args[0]} in {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main()
