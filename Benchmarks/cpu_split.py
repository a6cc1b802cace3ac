"""CPU time of the processes a benchmark runs, by role, between two snapshots: where a cost lands
on a machine whose cores the server, Postgres and a receiver share.

    cpu_split.py snap FILE                      records user+system ticks of every matching process
    cpu_split.py diff BEFORE AFTER COUNT        prints CPU milliseconds per unit of work (COUNT
                                                units between the snapshots) for server, postgres
                                                and receiver, space-separated, in that order
"""

import json
import os
import sys

# The server and Postgres by process name (a psql or curl whose arguments mention them is not
# them); the receiver, a Python script, by its command line.
NAMES = {"storage-api": "server", "postgres": "postgres"}
SCRIPTS = {"webhook_receiver": "receiver"}
ROLES = {**NAMES, **SCRIPTS}


def snapshot():
    ticks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        role = NAMES.get(name) or next((role for key, role in SCRIPTS.items() if key in command), None)
        if role:
            fields = stat[stat.rindex(")") + 2:].split()
            ticks[pid] = [role, int(fields[11]) + int(fields[12])]
    return ticks


if sys.argv[1] == "snap":
    json.dump(snapshot(), open(sys.argv[2], "w"))
else:
    before, after, count = json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), int(sys.argv[4])
    per_role = dict.fromkeys(ROLES.values(), 0)
    for pid, (role, ticks) in after.items():
        per_role[role] += ticks - before.get(pid, [role, 0])[1]
    hz = os.sysconf("SC_CLK_TCK")
    print(" ".join(f"{per_role[role] * 1000 / hz / max(count, 1):.2f}" for role in ("server", "postgres", "receiver")))
