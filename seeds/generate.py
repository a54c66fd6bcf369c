"""Write Clikd's development seed data: deterministic, realistic, the same bytes on every run.

    .venv/bin/python seeds/generate.py          # rewrites seeds/postgres, seeds/scylla, seeds/keydb, seeds/s3

Outputs (what `inv db.seed` / `inv db.reset` load):
- seeds/postgres/auth.sql, seeds/postgres/main.sql: INSERT ... ON CONFLICT DO NOTHING, so seeding twice
  changes nothing;
- seeds/scylla/<table>.jsonl: one JSON row per line, loaded with INSERT INTO <table> JSON ?;
- seeds/keydb/keys.jsonl: {"key" (without the branch prefix), "type", "value", "ttl" (s, optional)}.
Everything derives from one random.Random(SEED) and a fixed clock (NOW), so the files never change
unless this script does.
"""

# ruff: noqa: S608, S311, E501, PLR0912, PLR0915, B007
# (S608: the SQL is built from our own constants, never input; S311: determinism is the point of this
#  random; E501/PLR09xx: the data tables read best as long literal rows in one main().)
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

SEED = 20260105
NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
HERE = Path(__file__).resolve().parent
N_USERS = 320
N_CREWS = 36
N_DROPS = 960

rng = random.Random(SEED)

ADJ = [
    "swift",
    "silent",
    "neon",
    "pixel",
    "frost",
    "rogue",
    "lucky",
    "crimson",
    "shadow",
    "turbo",
    "cosmic",
    "feral",
    "arcane",
    "clutch",
    "salty",
    "sneaky",
    "mighty",
    "lazy",
    "hyper",
    "retro",
    "void",
    "golden",
    "iron",
    "toxic",
]
NOUN = [
    "fox",
    "wolf",
    "sniper",
    "panda",
    "ninja",
    "mage",
    "tank",
    "healer",
    "raven",
    "viper",
    "otter",
    "yeti",
    "golem",
    "knight",
    "pilot",
    "ghost",
    "falcon",
    "badger",
    "comet",
    "drift",
    "lynx",
    "bard",
]
FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Kai",
    "Riley",
    "Mika",
    "Noor",
    "Lena",
    "Theo",
    "Ivy",
    "Omar",
    "Yuki",
    "Zoe",
    "Finn",
    "Ada",
    "Luca",
    "Maya",
    "Ravi",
    "Sven",
    "Ines",
    "Tariq",
    "Hana",
    "Jonas",
    "Amara",
    "Leo",
    "Nia",
    "Pablo",
    "Elif",
    "Mateo",
    "Aiko",
]
COUNTRIES = [
    "US",
    "DE",
    "GB",
    "FR",
    "BR",
    "JP",
    "KR",
    "SE",
    "PL",
    "ES",
    "CA",
    "AU",
    "NL",
    "IT",
    "MX",
    "IN",
    "TR",
]
PLATFORMS = ["pc", "playstation", "xbox", "switch", "mobile"]
GAMES = [
    ("valorant", "Valorant", ["pc"]),
    ("fortnite", "Fortnite", ["pc", "playstation", "xbox", "switch", "mobile"]),
    ("apex-legends", "Apex Legends", ["pc", "playstation", "xbox"]),
    ("rocket-league", "Rocket League", ["pc", "playstation", "xbox", "switch"]),
    ("league-of-legends", "League of Legends", ["pc"]),
    ("minecraft", "Minecraft", ["pc", "playstation", "xbox", "switch", "mobile"]),
    ("overwatch-2", "Overwatch 2", ["pc", "playstation", "xbox", "switch"]),
    ("counter-strike-2", "Counter-Strike 2", ["pc"]),
    ("elden-ring", "Elden Ring", ["pc", "playstation", "xbox"]),
    ("splatoon-3", "Splatoon 3", ["switch"]),
    ("call-of-duty-warzone", "Call of Duty: Warzone", ["pc", "playstation", "xbox"]),
    ("genshin-impact", "Genshin Impact", ["pc", "playstation", "mobile"]),
    ("dota-2", "Dota 2", ["pc"]),
    ("street-fighter-6", "Street Fighter 6", ["pc", "playstation", "xbox"]),
    ("tetris-99", "Tetris 99", ["switch"]),
    ("pubg-mobile", "PUBG Mobile", ["mobile"]),
    ("hades-ii", "Hades II", ["pc", "switch"]),
    ("helldivers-2", "Helldivers 2", ["pc", "playstation"]),
    ("smash-ultimate", "Super Smash Bros. Ultimate", ["switch"]),
    ("clash-royale", "Clash Royale", ["mobile"]),
    ("destiny-2", "Destiny 2", ["pc", "playstation", "xbox"]),
    ("rainbow-six-siege", "Rainbow Six Siege", ["pc", "playstation", "xbox"]),
    ("marvel-rivals", "Marvel Rivals", ["pc", "playstation", "xbox"]),
    ("geoguessr", "GeoGuessr", ["pc"]),
]
CLIP_TITLES = (
    "1v4 clutch on {g}",
    "{g}: the flick that broke my wrist",
    "worst throw in {g} history",
    "{g} ranked grind, episode {n}",
    "no-scope across the map ({g})",
    "speedrun PB {g}",
    "crew night: {g} chaos",
    "{g} bug or feature?",
    "first win of the season in {g}",
    "ace round, {g}",
    "1 HP survival in {g}",
    "{g} team wipe in 9 seconds",
)
MESSAGES = (
    "gg",
    "who's on tonight?",
    "that last round was insane",
    "queue up in 5",
    "lol that clip",
    "need one more for ranked",
    "brb food",
    "new patch is live",
    "did you see the drop?",
    "carry me pls",
    "warmup first",
    "nice shot!",
    "who has the crew banner file?",
    "scrims at 8",
)


def uid() -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def timeuuid(ts: dt.datetime) -> uuid.UUID:
    ticks = int((ts - dt.datetime(1582, 10, 15, tzinfo=dt.UTC)).total_seconds() * 10_000_000)
    clock = rng.getrandbits(14)
    return uuid.UUID(
        fields=(
            ticks & 0xFFFFFFFF,
            (ticks >> 32) & 0xFFFF,
            ((ticks >> 48) & 0x0FFF) | 0x1000,
            ((clock >> 8) & 0x3F) | 0x80,
            clock & 0xFF,
            rng.getrandbits(48) | 0x010000000000,
        )
    )


def ago(max_days: float, min_days: float = 0.0) -> dt.datetime:
    seconds = rng.uniform(min_days * 86400, max_days * 86400)
    return (NOW - dt.timedelta(seconds=int(seconds))).replace(microsecond=0)


def lit(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dt.datetime):
        return f"'{v.isoformat()}'"
    if isinstance(v, uuid.UUID):
        return f"'{v}'"
    if isinstance(v, bytes):
        return f"'\\x{v.hex()}'::bytea"
    if isinstance(v, dict):
        return lit(json.dumps(v, sort_keys=True)) + "::jsonb"
    if isinstance(v, list):
        return "'{" + ",".join('"' + str(x).replace('"', '\\"') + '"' for x in v) + "}'"
    return "'" + str(v).replace("'", "''") + "'"


def inserts(table: str, cols: list[str], rows: list[list[Any]], *, overriding: bool = False) -> str:
    out = []
    for i in range(0, len(rows), 400):
        chunk = rows[i : i + 400]
        values = ",\n".join("(" + ", ".join(lit(v) for v in r) + ")" for r in chunk)
        over = " OVERRIDING SYSTEM VALUE" if overriding else ""
        out.append(
            f"INSERT INTO {table} ({', '.join(cols)}){over} VALUES\n{values}\nON CONFLICT DO NOTHING;\n"
        )
    return "\n".join(out)


def avatar_svg(user: dict[str, Any]) -> str:
    """A 96x96 avatar: the name's initials on a colour taken from the user's id."""
    hue = int(user["id"].hex[:4], 16) % 360
    initials = "".join(part[0] for part in user["name"].split()[:2]).upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<circle cx="48" cy="48" r="48" fill="hsl({hue},55%,45%)"/>'
        '<text x="48" y="60" font-family="sans-serif" font-size="36" text-anchor="middle" fill="#fff">'
        f"{initials}</text></svg>\n"
    )


def main() -> None:
    # ------------------------------------------------------------------ people
    users = []
    handles: set[str] = set()
    while len(users) < N_USERS:
        handle = f"{rng.choice(ADJ)}_{rng.choice(NOUN)}{rng.choice(['', str(rng.randint(1, 99))])}"
        if handle in handles or len(handle) > 24:
            continue
        handles.add(handle)
        created = ago(400, 30)
        users.append(
            {
                "id": uid(),
                "handle": handle,
                "name": f"{rng.choice(FIRST)} {handle.split('_')[1].rstrip('0123456789').title()}",
                "created": created,
                "email": f"{handle}@example.test",
                "country": rng.choice(COUNTRIES),
                "platform": rng.choice(PLATFORMS),
            }
        )
    ids = [u["id"] for u in users]

    # ------------------------------------------------------------------ auth
    acc_rows, cred_rows, sess_rows, tok_rows, login_rows = [], [], [], [], []
    live_sessions = []
    for i, u in enumerate(users):
        status = "active" if i % 40 else ("suspended" if i % 80 else "pending")
        acc_rows.append(
            [
                u["id"],
                u["email"],
                u["created"] if status != "pending" else None,
                None,
                status,
                rng.choice(["en", "en", "de", "fr", "pt", "ja", "ko"]),
                u["created"],
                u["created"],
            ]
        )
        salt = hashlib.sha256(f"salt{i}".encode()).hexdigest()[:22]
        cred_rows.append(
            [
                uid(),
                u["id"],
                "password",
                f"$argon2id$v=19$m=19456,t=2,p=1${salt}$seededhash{i:04d}",
                None,
                u["created"],
                ago(30),
            ]
        )
        if i % 3 == 0:
            kind = rng.choice(["oauth_apple", "oauth_google", "oauth_discord"])
            cred_rows.append(
                [uid(), u["id"], kind, None, f"{kind[6:]}-{rng.getrandbits(64):016x}", u["created"], ago(60)]
            )
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            sid = uid()
            created = ago(20)
            revoked = ago(2) if rng.random() < 0.15 else None
            sess_rows.append(
                [
                    sid,
                    u["id"],
                    rng.choice(["ios", "android", "web", "web", "studio"]),
                    rng.choice(
                        [
                            "Clikd/3.2 iOS 18.1",
                            "Clikd/3.2 Android 15",
                            "Mozilla/5.0 Firefox/133",
                            "Mozilla/5.0 Chrome/131",
                        ]
                    ),
                    f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                    created,
                    created + dt.timedelta(hours=rng.randint(1, 400)),
                    created + dt.timedelta(days=30),
                    revoked,
                ]
            )
            tok_rows.append(
                [uid(), sid, hashlib.sha256(sid.bytes).digest(), created, created + dt.timedelta(days=30)]
            )
            if revoked is None:
                live_sessions.append((u, sid))
        for _ in range(rng.choice([0, 1, 2, 3])):
            ok = rng.random() < 0.8
            login_rows.append(
                [
                    len(login_rows) + 1,
                    u["id"],
                    u["email"],
                    f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                    ok,
                    None if ok else rng.choice(["bad_password", "rate_limited", "mfa_failed"]),
                    ago(30),
                ]
            )
    keys_rows = []
    for n, (alg, retired) in enumerate([("EdDSA", True), ("EdDSA", False), ("ES256", False)]):
        kid = f"clikd-dev-{n + 1:02d}-{rng.getrandbits(32):08x}"
        jwk = (
            {"kty": "OKP", "crv": "Ed25519", "x": hashlib.sha256(kid.encode()).hexdigest()[:43]}
            if alg == "EdDSA"
            else {
                "kty": "EC",
                "crv": "P-256",
                "x": hashlib.sha256(kid.encode()).hexdigest()[:43],
                "y": hashlib.sha256(kid[::-1].encode()).hexdigest()[:43],
            }
        )
        created = NOW - dt.timedelta(days=90 - 30 * n)
        keys_rows.append(
            [
                kid,
                alg,
                {**jwk, "kid": kid, "use": "sig"},
                f"sealed-secret://clikd-auth/{kid}",
                created,
                created,
                created + dt.timedelta(days=45) if retired else None,
            ]
        )
    auth_sql = "-- Generated by seeds/generate.py; do not edit by hand.\n\n" + "\n".join(
        [
            inserts(
                "accounts",
                ["id", "email", "email_verified_at", "phone", "status", "locale", "created_at", "updated_at"],
                acc_rows,
            ),
            inserts(
                "credentials",
                ["id", "account_id", "kind", "secret_hash", "provider_subject", "created_at", "last_used_at"],
                cred_rows,
            ),
            inserts(
                "sessions",
                [
                    "id",
                    "account_id",
                    "platform",
                    "user_agent",
                    "ip",
                    "created_at",
                    "last_seen_at",
                    "expires_at",
                    "revoked_at",
                ],
                sess_rows,
            ),
            inserts(
                "refresh_tokens", ["id", "session_id", "token_hash", "issued_at", "expires_at"], tok_rows
            ),
            inserts(
                "signing_keys",
                [
                    "kid",
                    "algorithm",
                    "public_jwk",
                    "private_key_ref",
                    "created_at",
                    "activates_at",
                    "retires_at",
                ],
                keys_rows,
            ),
            inserts(
                "login_attempts",
                ["id", "account_id", "email", "ip", "succeeded", "reason", "occurred_at"],
                login_rows,
                overriding=True,
            ),
            "SELECT setval(pg_get_serial_sequence('login_attempts', 'id'), (SELECT max(id) FROM login_attempts));\n",
        ]
    )

    # ------------------------------------------------------------------ main
    user_rows = [[u["id"], u["handle"], u["name"], u["created"], u["created"], None] for u in users]
    profile_rows = []
    for u in users:
        games = sorted(rng.sample([g[0] for g in GAMES], rng.randint(1, 4)))
        links = {"twitch": f"https://twitch.tv/{u['handle']}"} if rng.random() < 0.3 else {}
        profile_rows.append(
            [
                u["id"],
                f"{rng.choice(['Grinding', 'Chilling in', 'Main', 'Learning'])} {GAMES[rng.randrange(len(GAMES))][1]}. "
                f"{rng.choice(['DMs open', 'no backseat gaming', 'clips daily', 'ranked only', ''])}".strip(),
                f"avatars/{u['id']}.svg",
                None,
                u["country"],
                u["platform"],
                games,
                links,
                rng.random() < 0.08,
            ]
        )
    follow_rows = []
    seen: set[tuple[int, int]] = set()
    for a in range(N_USERS):
        for b in rng.sample(range(N_USERS), rng.randint(2, 18)):
            if a != b and (a, b) not in seen:
                seen.add((a, b))
                follow_rows.append([ids[a], ids[b], ago(200)])
    game_rows = [
        [i + 1, slug, title, plats, NOW - dt.timedelta(days=500)]
        for i, (slug, title, plats) in enumerate(GAMES)
    ]
    drops = []
    for n in range(N_DROPS):
        author = rng.randrange(N_USERS)
        g = rng.randrange(len(GAMES))
        created = ago(60)
        status = rng.choices(["ready", "processing", "failed", "removed"], [90, 5, 3, 2])[0]
        did = uid()
        drops.append({"id": did, "author": author, "game": g, "created": created, "status": status})
    drop_rows = [
        [
            d["id"],
            ids[d["author"]],
            d["game"] + 1,
            rng.choice(CLIP_TITLES).format(g=GAMES[d["game"]][1], n=rng.randint(2, 40))[:100],
            "",
            rng.randint(4000, 180000),
            1080 if rng.random() < 0.6 else 1920,
            1920 if rng.random() < 0.6 else 1080,
            rng.choices(["public", "followers", "crew", "private"], [70, 15, 10, 5])[0],
            d["status"],
            f"drops/{d['id']}/master.m3u8",
            f"drops/{d['id']}/thumb.jpg",
            sorted(
                rng.sample(
                    ["clutch", "funny", "fail", "tutorial", "montage", "ranked", "speedrun", "wholesome"],
                    rng.randint(0, 3),
                )
            ),
            d["created"],
            d["created"] + dt.timedelta(minutes=2) if d["status"] == "ready" else None,
        ]
        for d in drops
    ]
    ready = [d for d in drops if d["status"] == "ready"]
    like_rows, comment_rows = [], []
    for d in ready:
        for liker in rng.sample(range(N_USERS), rng.randint(0, 9)):
            like_rows.append([d["id"], ids[liker], d["created"] + dt.timedelta(hours=rng.randint(1, 48))])
        first = None
        for k in range(rng.choice([0, 0, 1, 2, 3])):
            cid = len(comment_rows) + 1
            comment_rows.append(
                [
                    cid,
                    d["id"],
                    ids[rng.randrange(N_USERS)],
                    first if k and first else None,
                    rng.choice(MESSAGES),
                    d["created"] + dt.timedelta(hours=k + 1),
                ]
            )
            first = first or cid
    crews, crew_rows, member_rows, invite_rows = [], [], [], []
    owners = rng.sample(range(N_USERS), N_CREWS)
    for n, owner in enumerate(owners):
        cid = uid()
        g = rng.randrange(len(GAMES))
        slug = f"{rng.choice(ADJ)}-{rng.choice(NOUN)}s-{n + 1}"
        crews.append((cid, owner))
        crew_rows.append(
            [
                cid,
                slug,
                slug.replace("-", " ").title(),
                f"A {GAMES[g][1]} crew",
                ids[owner],
                g + 1,
                rng.random() < 0.25,
                50,
                ago(300, 60),
            ]
        )
        member_rows.append([cid, ids[owner], "owner", ago(300, 60)])
        for k, member in enumerate(rng.sample([i for i in range(N_USERS) if i != owner], rng.randint(3, 16))):
            member_rows.append([cid, ids[member], "admin" if k == 0 else "member", ago(60)])
        invite_rows.append(
            [
                f"CREW{n + 1:03d}{rng.getrandbits(24):06X}",
                cid,
                ids[owner],
                10,
                rng.randint(0, 4),
                NOW + dt.timedelta(days=14),
            ]
        )
    pay_rows, balances = [], {}
    for n in range(520):
        payer = rng.randrange(N_USERS)
        kind = rng.choices(["coins", "tip", "subscription"], [60, 25, 15])[0]
        amount = {
            "coins": rng.choice([99, 499, 999, 1999]),
            "tip": rng.choice([100, 200, 500, 1000]),
            "subscription": 499,
        }[kind]
        status = rng.choices(["succeeded", "pending", "failed", "refunded"], [85, 5, 7, 3])[0]
        created = ago(180)
        provider = rng.choice(["stripe", "apple", "google"])
        recipient = ids[rng.choice([i for i in range(N_USERS) if i != payer])] if kind == "tip" else None
        pay_rows.append(
            [
                uid(),
                100001 + n,
                ids[payer],
                recipient,
                kind,
                status,
                provider,
                f"{provider}_{rng.getrandbits(48):012x}",
                amount,
                rng.choice(["USD", "USD", "EUR", "GBP"]),
                created,
                created + dt.timedelta(seconds=rng.randint(2, 90)) if status != "pending" else None,
            ]
        )
        if kind == "coins" and status == "succeeded":
            balances[payer] = balances.get(payer, 0) + amount * 10
    balance_rows = [[ids[i], balances.get(i, 0), NOW] for i in range(N_USERS)]
    staff_ids = rng.sample(range(N_USERS), 6)
    staff_rows = [
        [
            ids[s],
            ["admin", "moderator", "moderator", "support", "support", "moderator"][k],
            None,
            ago(300, 200),
        ]
        for k, s in enumerate(staff_ids)
    ]
    report_rows = []
    for n in range(24):
        on_drop = rng.random() < 0.7
        status = rng.choice(["open", "open", "actioned", "dismissed"])
        report_rows.append(
            [
                n + 1,
                ids[rng.randrange(N_USERS)],
                rng.choice(ready)["id"] if on_drop else None,
                None if on_drop else ids[rng.randrange(N_USERS)],
                rng.choice(["spam", "harassment", "cheating", "nsfw", "impersonation"]),
                status,
                ids[staff_ids[1]] if status != "open" else None,
                ago(20),
            ]
        )
    audit_rows = []
    for n in range(240):
        action = rng.choice(
            [
                "drop.remove",
                "user.suspend",
                "report.resolve",
                "crew.transfer",
                "payment.refund",
                "staff.grant",
            ]
        )
        audit_rows.append(
            [
                n + 1,
                ids[rng.choice(staff_ids)],
                action,
                action.split(".")[0],
                str(uid()),
                {"reason": rng.choice(["policy", "user request", "fraud", "duplicate"]), "ticket": 4000 + n},
                ago(120),
            ]
        )
    main_sql = "-- Generated by seeds/generate.py; do not edit by hand.\n\n" + "\n".join(
        [
            inserts(
                "users", ["id", "handle", "display_name", "created_at", "updated_at", "deleted_at"], user_rows
            ),
            inserts(
                "profiles",
                [
                    "user_id",
                    "bio",
                    "avatar_key",
                    "banner_key",
                    "country",
                    "favorite_platform",
                    "games",
                    "links",
                    "is_private",
                ],
                profile_rows,
            ),
            inserts("follows", ["follower_id", "followee_id", "created_at"], follow_rows),
            inserts("games", ["id", "slug", "title", "platforms", "created_at"], game_rows),
            "SELECT setval(pg_get_serial_sequence('games', 'id'), (SELECT max(id) FROM games));\n",
            inserts(
                "drops",
                [
                    "id",
                    "author_id",
                    "game_id",
                    "title",
                    "description",
                    "duration_ms",
                    "width",
                    "height",
                    "visibility",
                    "status",
                    "media_key",
                    "thumbnail_key",
                    "tags",
                    "created_at",
                    "published_at",
                ],
                drop_rows,
            ),
            inserts("drop_likes", ["drop_id", "user_id", "created_at"], like_rows),
            inserts(
                "drop_comments",
                ["id", "drop_id", "author_id", "parent_id", "body", "created_at"],
                comment_rows,
                overriding=True,
            ),
            "SELECT setval(pg_get_serial_sequence('drop_comments', 'id'), (SELECT max(id) FROM drop_comments));\n",
            inserts(
                "crews",
                [
                    "id",
                    "slug",
                    "name",
                    "description",
                    "owner_id",
                    "game_id",
                    "is_private",
                    "max_members",
                    "created_at",
                ],
                crew_rows,
            ),
            inserts("crew_memberships", ["crew_id", "user_id", "role", "joined_at"], member_rows),
            inserts(
                "crew_invites",
                ["code", "crew_id", "invited_by", "max_uses", "uses", "expires_at"],
                invite_rows,
            ),
            inserts(
                "payments",
                [
                    "id",
                    "invoice_number",
                    "user_id",
                    "recipient_id",
                    "kind",
                    "status",
                    "provider",
                    "provider_ref",
                    "amount_cents",
                    "currency",
                    "created_at",
                    "settled_at",
                ],
                pay_rows,
            ),
            "SELECT setval('invoice_number_seq', (SELECT max(invoice_number) FROM payments));\n",
            inserts("coin_balances", ["user_id", "coins", "updated_at"], balance_rows),
            inserts("staff", ["user_id", "role", "granted_by", "granted_at"], staff_rows),
            inserts(
                "reports",
                ["id", "reporter_id", "drop_id", "user_id", "reason", "status", "handled_by", "created_at"],
                report_rows,
                overriding=True,
            ),
            "SELECT setval(pg_get_serial_sequence('reports', 'id'), (SELECT max(id) FROM reports));\n",
            inserts(
                "audit_log",
                ["id", "actor_id", "action", "target_type", "target_id", "details", "created_at"],
                audit_rows,
                overriding=True,
            ),
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), (SELECT max(id) FROM audit_log));\n",
        ]
    )

    # ------------------------------------------------------------------ scylla
    def ts(t: dt.datetime) -> str:
        return t.strftime("%Y-%m-%d %H:%M:%S.000Z")

    scylla: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "feed_by_user",
            "timeline_by_author",
            "channels_by_user",
            "chat_messages",
            "activity_by_user",
            "drop_metrics",
        )
    }
    follows_of: dict[int, list[int]] = {}
    for a, b in seen:
        follows_of.setdefault(a, []).append(b)
    by_author: dict[int, list[dict[str, Any]]] = {}
    for d in ready:
        by_author.setdefault(d["author"], []).append(d)
    for i in range(0, N_USERS, 2):  # every other user has a warm feed cache
        pool = [d for f in follows_of.get(i, []) for d in by_author.get(f, [])]
        for d in sorted(pool, key=lambda d: d["created"], reverse=True)[:6]:
            scylla["feed_by_user"].append(
                {
                    "user_id": str(ids[i]),
                    "month": d["created"].strftime("%Y-%m"),
                    "created_at": str(timeuuid(d["created"])),
                    "drop_id": str(d["id"]),
                    "author_id": str(ids[d["author"]]),
                    "reason": "follow",
                    "score": round(rng.uniform(0.1, 1.0), 3),
                }
            )
    for d in sorted(ready, key=lambda d: d["created"], reverse=True)[:480]:
        scylla["timeline_by_author"].append(
            {
                "author_id": str(ids[d["author"]]),
                "created_at": str(timeuuid(d["created"])),
                "drop_id": str(d["id"]),
                "game": GAMES[d["game"]][0],
                "title": GAMES[d["game"]][1],
                "duration_ms": rng.randint(4000, 180000),
            }
        )
    for cid, owner in crews[:20]:
        members = [m for m in member_rows if m[0] == cid]
        for m in members:
            scylla["channels_by_user"].append(
                {
                    "user_id": str(m[1]),
                    "channel_id": str(cid),
                    "kind": "crew",
                    "title": next(c[2] for c in crew_rows if c[0] == cid),
                    "joined_at": ts(m[3]),
                    "muted": rng.random() < 0.1,
                }
            )
        day = (NOW - dt.timedelta(days=rng.randint(0, 3))).date()
        start = dt.datetime.combine(day, dt.time(18, 0), tzinfo=dt.UTC)
        for k in range(24):
            sender = rng.choice(members)[1]
            scylla["chat_messages"].append(
                {
                    "channel_id": str(cid),
                    "day": day.isoformat(),
                    "message_id": str(timeuuid(start + dt.timedelta(minutes=3 * k))),
                    "sender_id": str(sender),
                    "body": rng.choice(MESSAGES),
                    "attachments": [f"drops/{rng.choice(ready)['id']}"] if rng.random() < 0.1 else [],
                    "reactions": {"🔥": rng.randint(1, 5)} if rng.random() < 0.3 else {},
                    "edited_at": None,
                }
            )
    for i in range(0, N_USERS, 3):
        day = NOW - dt.timedelta(days=rng.randint(0, 6))
        for k in range(4):
            verb = rng.choice(["posted", "liked", "commented", "joined_crew", "followed"])
            obj = rng.choice(ready)["id"] if verb in ("posted", "liked", "commented") else uid()
            scylla["activity_by_user"].append(
                {
                    "user_id": str(ids[i]),
                    "day": day.date().isoformat(),
                    "occurred_at": str(timeuuid(day.replace(hour=8 + k * 3))),
                    "verb": verb,
                    "object_type": "drop" if verb != "followed" else "user",
                    "object_id": str(obj),
                    "meta": {"client": rng.choice(["ios", "android", "web"])},
                }
            )
    for d in sorted(ready, key=lambda d: d["created"], reverse=True)[:40]:
        day = d["created"].date()
        for k in range(12):
            minute = d["created"].replace(second=0) + dt.timedelta(minutes=5 * k)
            scylla["drop_metrics"].append(
                {
                    "drop_id": str(d["id"]),
                    "day": day.isoformat(),
                    "minute": ts(minute),
                    "views": rng.randint(0, 400),
                    "watch_ms": rng.randint(0, 4_000_000),
                    "likes": rng.randint(0, 30),
                    "shares": rng.randint(0, 6),
                }
            )

    # ------------------------------------------------------------------ keydb
    kv: list[dict[str, Any]] = []
    for u, sid in live_sessions:
        kv.append(
            {
                "key": f"auth:session:{sid}",
                "type": "hash",
                "ttl": 86400,
                "value": {"account_id": str(u["id"]), "platform": "web", "scopes": "user"},
            }
        )
    for i, u in enumerate(users):
        if i % 4 == 0:
            kv.append(
                {
                    "key": f"user:{u['id']}:presence",
                    "type": "hash",
                    "ttl": 300,
                    "value": {
                        "status": rng.choice(["online", "in_game", "away"]),
                        "game": rng.choice(GAMES)[0],
                    },
                }
            )
        if i % 2 == 0:
            kv.append(
                {
                    "key": f"user:{u['id']}:profile",
                    "type": "string",
                    "ttl": 3600,
                    "value": json.dumps({"handle": u["handle"], "display_name": u["name"]}, sort_keys=True),
                }
            )
    for i in range(0, N_USERS, 5):
        pool = [d for f in follows_of.get(i, []) for d in by_author.get(f, [])][:20]
        if pool:
            kv.append(
                {
                    "key": f"feed:{ids[i]}:ranked",
                    "type": "zset",
                    "ttl": 120,
                    "value": {str(d["id"]): round(rng.uniform(0, 1), 4) for d in pool},
                }
            )
    kv.append(
        {
            "key": "feed:trending",
            "type": "zset",
            "value": {str(d["id"]): rng.randint(10, 5000) for d in rng.sample(ready, 50)},
        }
    )
    for cid, owner in crews[:20]:
        members = [m[1] for m in member_rows if m[0] == cid]
        kv.append(
            {
                "key": f"crew:{cid}:online",
                "type": "set",
                "value": sorted(str(m) for m in members[: rng.randint(1, 5)]),
            }
        )
        for m in members[:3]:
            kv.append({"key": f"chat:{cid}:unread:{m}", "type": "string", "value": str(rng.randint(0, 40))})
        kv.append(
            {"key": f"chat:{cid}:recent", "type": "list", "value": [rng.choice(MESSAGES) for _ in range(5)]}
        )

    # ------------------------------------------------------------------ s3 (media's bucket)
    # Each profile's avatar_key names one of these: an SVG of the user's initials on their colour.
    avatars = HERE / "s3" / "avatars"
    if avatars.is_dir():
        for old in avatars.glob("*.svg"):
            old.unlink()
    avatars.mkdir(parents=True, exist_ok=True)
    for u in users:
        (avatars / f"{u['id']}.svg").write_text(avatar_svg(u), encoding="utf-8")

    (HERE / "postgres").mkdir(exist_ok=True)
    (HERE / "scylla").mkdir(exist_ok=True)
    (HERE / "keydb").mkdir(exist_ok=True)
    (HERE / "postgres" / "auth.sql").write_text(auth_sql, encoding="utf-8")
    (HERE / "postgres" / "main.sql").write_text(main_sql, encoding="utf-8")
    for table, rows in scylla.items():
        (HERE / "scylla" / f"{table}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), encoding="utf-8"
        )
    (HERE / "keydb" / "keys.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in kv), encoding="utf-8"
    )
    counts = {
        "users": len(user_rows),
        "drops": len(drop_rows),
        "crews": len(crew_rows),
        "payments": len(pay_rows),
        **{f"scylla.{k}": len(v) for k, v in scylla.items()},
        "keydb keys": len(kv),
        "s3 objects": len(users),
    }
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
