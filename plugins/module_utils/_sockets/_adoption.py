# -*- coding: utf-8 -*-
# Copyright: netstack.keepalive contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keepalive adoption audit: which sockets really use keepalive, with which values.

This module_util is private to the netstack.keepalive collection; it may change at any time.

``gather()`` dumps (inet_diag and sysctls per network namespace, owners and exact options
from /proc + pidfd_getfd); its ``summaries()`` count the sockets, its ``records()`` give one
``Record`` per socket, which ``summary_rows``, ``socket_rows`` and ``select`` shape for the
module. Policy checks live in
``_adoption_checks``. A host may hold 100,000 sockets: records are tuples, addresses are
decoded only for the rows that are returned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import operator
import os
from collections import Counter, namedtuple

from ansible_collections.netstack.keepalive.plugins.module_utils._sockets import (
    _parallel_scan,
    _procfd,
    _sockdiag,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._sysctl._runtime import (
    read_keepalive_sysctls,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._vocabulary import (
    OPTION_OF,
    SUMMARY_KEYS,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._errors import (
    KeepaliveError,
)
from ansible_collections.netstack.keepalive.plugins.module_utils._netns import (
    list_namespaces,
    namespace_id,
    netns_inode,
    resolve_netns,
    run_in_each_netns,
)

DEFAULT_STATES = ("established", "listen")
SOURCE_GETSOCKOPT = "getsockopt"
SOURCE_TIMER = "timer"
# Read in each namespace beside the three keepalive sysctls: the retransmissions a connection
# with data in flight waits for (keepalive does not run then), unless TCP_USER_TIMEOUT is set.
RETRIES2 = "tcp_retries2"
RETRIES2_PATH = "/proc/sys/net/ipv4/" + RETRIES2
# What a socket is doing right now, from its tcp_info (``stall_of``).
RETRANSMITTING = "retransmitting"
PROBING = "probing"
STALLS = (RETRANSMITTING, PROBING)

# One audited socket. Hot loops index it with these constants.
RECORD_FIELDS = (
    "netns pid comm unit state keepalive idle intvl cnt source family sockid user_timeout "
    "retransmits probes backoff unacked"
)
(NETNS, PID, COMM, UNIT, STATE, KEEPALIVE, IDLE, INTVL, CNT, SOURCE, FAMILY, SOCKID,
 USER_TIMEOUT, RETRANSMITS, PROBES, BACKOFF, UNACKED) = range(17)  # fmt: skip
Record = namedtuple("Record", RECORD_FIELDS)
# The summary's grouping key (netns, unit, comm, state, ..., source) in one C call.
_SUMMARY_KEY = operator.itemgetter(
    NETNS, UNIT, COMM, STATE, KEEPALIVE, IDLE, INTVL, CNT, USER_TIMEOUT, SOURCE
)
_RECORD_STALL = operator.itemgetter(STATE, RETRANSMITS, PROBES)
# The keys a summary row is grouped by (the counts follow them).
GROUP_KEYS = SUMMARY_KEYS[: SUMMARY_KEYS.index("count")]
# Building 100,000 records through Record.__new__ runs a Python frame each time; calling the
# tuple constructor with the class does the same at C speed.
_new_record = tuple.__new__
_FIRST = operator.itemgetter(0)  # the pid of a _procfd.scan entry


def read_retries2(path=RETRIES2_PATH):
    """This namespace's ``tcp_retries2`` (an int), None when it cannot be read."""
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None


def _dump_namespace(states):
    sysctls = dict(read_keepalive_sysctls())
    sysctls[RETRIES2] = read_retries2()
    return sysctls, _sockdiag.dump_tcp(states)


def stall_of(state, retransmits, probes):
    """``retransmitting``, ``probing`` or None: what a socket waits for from its peer now.

    ``state`` is a state number or name. ``retransmits`` (tcpi_retransmits) counts the
    retransmission timeouts since the peer last acknowledged anything: data (or a SYN) is in
    flight and unanswered. ``probes`` (tcpi_probes) counts keepalive or zero-window probes
    the peer has not answered. Any segment from the peer resets both, so either above 0 is a
    peer that has gone quiet at this moment. A listener's tcp_info describes no peer: None.
    """
    if state in (_LISTEN, "listen") or retransmits is None:
        return None
    if retransmits:
        return RETRANSMITTING
    if probes:
        return PROBING
    return None


def stall_counts(sockets):
    """``{retransmitting: n, probing: n}`` over a namespace's dump, counted at C speed."""
    counts = dict.fromkeys(STALLS, 0)
    for fields, count in Counter(map(_STALL_FIELDS, sockets)).items():
        stall = stall_of(*fields)
        if stall is not None:
            counts[stall] += count
    return counts


def select_namespaces(netns):
    """Namespaces to audit: all of the host's (``netns`` empty) or the ones named."""
    own = netns_inode()
    if not netns:
        found = list_namespaces()
    else:
        found = []
        by_inode = {}
        for item in netns:
            path = resolve_netns(item)
            inode = netns_inode(path)
            if inode not in by_inode:  # two names of one namespace: dump it once
                by_inode[inode] = {"inode": inode, "path": path, "names": []}
                found.append(by_inode[inode])
            if "/" not in item:
                by_inode[inode]["names"].append(item)
    if not any(entry["inode"] == own for entry in found) and not netns:
        found.append({"inode": own, "path": "/proc/self/ns/net", "names": []})
    for entry in found:
        entry["id"] = namespace_id(entry["inode"], entry["names"])
        entry["current"] = entry["inode"] == own
    return found


def dump_namespaces(namespaces, states, degraded, explicit=False):
    """{ns id: (sysctls, sockets)}; namespaces that cannot be entered go to ``degraded``,
    unless they were named (``explicit``): a namespace asked for that cannot be audited is
    an error, never an empty answer."""
    paths = [None if entry["current"] else entry["path"] for entry in namespaces]
    result = {}
    outcomes = run_in_each_netns(paths, _dump_namespace, states)
    for index, entry in enumerate(namespaces):
        ok, outcome = outcomes[index]
        if ok:
            result[entry["id"]] = outcome
        elif explicit or entry["current"] or not isinstance(outcome, KeepaliveError):
            raise outcome
        else:
            degraded.append("network namespace %s skipped: %s" % (entry["id"], outcome))
    return result


def timer_keepalive(state, timer):
    """What the kernel timer proves about SO_KEEPALIVE: True, False or None (cannot tell).

    An idle ESTABLISHED socket with SO_KEEPALIVE has the keepalive timer armed and one
    without has no timer; pending data (retransmit, zero-window probe) hides it, and
    listeners never arm it.
    """
    if state != 1:
        return None
    if timer == _sockdiag.TIMER_KEEPALIVE:
        return True
    if timer == _sockdiag.TIMER_NONE:
        return False
    return None


def _owner_info(pids):
    info = {}
    for pid in pids:
        path = _procfd.read_cgroup_path(pid)
        info[pid] = (_procfd.read_comm(pid), _procfd.unit_from_cgroup(path))
    return info


def _cgroup_units(cgroup_ids):
    """Unit (or ``cgroup:ID``) of each cgroup id, for sockets with no visible owner."""
    paths = _procfd.cgroup_paths(set(cgroup_ids) - {0})
    units = {0: None}
    for cid in cgroup_ids:
        if cid:
            units[cid] = _procfd.unit_from_cgroup(paths[cid]) if cid in paths else "cgroup:%d" % cid
    return units


def _name_orphans(records, orphans):
    """Give the records with no visible owner (``orphans``: their indexes) the unit of the
    socket's cgroup id (stored in their unit field meanwhile), or ``cgroup:ID``."""
    units = _cgroup_units([records[index][UNIT] for index in orphans])
    for index in orphans:
        records[index] = records[index]._replace(unit=units[records[index][UNIT]])


def _scan_jobs():
    """One scanning child per CPU we may run on (the caller dumps the namespaces meanwhile)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return 2


# Fields of a _sockdiag socket tuple the grouping reads.
_GROUP_FIELDS = operator.itemgetter(1, 2, 8)  # state, timer, cgroup id
_INODE = operator.itemgetter(7)
_STALL_FIELDS = operator.itemgetter(1, 9, 10)  # state, tcpi_retransmits, tcpi_probes
_LISTEN = _sockdiag.STATE_NUMBERS["listen"]


def _crosses(sock):
    """An established connection to another host (what a middlebox on the path can cut)."""
    return sock[1] == 1 and not _sockdiag.loopback_peer(sock[0], sock[4])


class Gathered(object):
    """What one audit found, before it is shaped: the namespaces' dumps and the owners.

    ``summaries`` counts the sockets without a per-socket Python step (a host may hold
    100,000); ``records`` builds one ``Record`` per socket, for filters and socket rows, and
    consumes the dumps: call it last.
    """

    def __init__(self, dumps, found, namespaces, degraded):
        self.namespaces = namespaces
        self.degraded = degraded
        self._dumps = dumps  # [(ns id, socket tuples)] in namespace order
        self._found = found
        self._info = _owner_info(set(map(_FIRST, found.values())))

    def summaries(self, crossing=False):
        """``(summary rows, summary rows of the sockets crossing the path)``, the second
        None unless ``crossing`` (see ``summary_rows`` and ``crossing_the_path``).

        One pass counts (state, timer, cgroup id, scan entry, (state, retransmits, probes)
        [, crosses]) over the dumps at C speed; the few distinct groups are then named in
        Python.
        """
        found_get = self._found.get
        raw = []
        for ns_id, sockets in self._dumps:
            columns = [
                map(_GROUP_FIELDS, sockets),
                map(found_get, map(_INODE, sockets)),
                map(_STALL_FIELDS, sockets),
            ]
            if crossing:
                columns.append(map(_crosses, sockets))
            groups = Counter(zip(*columns))  # noqa: B905 - hosts may run Python < 3.10
            raw.extend((ns_id, key, count) for key, count in groups.items())
        units = _cgroup_units([key[0][2] for _ns, key, _n in raw if key[1] is None])
        counts = {}
        crossing_counts = {}
        for ns_id, key, count in raw:
            summary_key = self._summary_key(ns_id, key, units)
            stall = stall_of(*key[2])
            _add_count(counts, summary_key, count, stall)
            if crossing and key[3]:
                _add_count(crossing_counts, summary_key, count, stall)
        return _rows_of(counts), _rows_of(crossing_counts) if crossing else None

    def _summary_key(self, ns_id, key, units):
        (state, timer, cgroup_id), entry = key[:2]
        state_name = _STATE_NAMES[state]
        if entry is None:
            comm, unit = None, units[cgroup_id]
        else:
            comm, unit = self._info[entry[0]]
        options = _procfd.options_of(entry)
        if options is not None:
            return (ns_id, unit, comm, state_name) + options + (SOURCE_GETSOCKOPT,)
        keepalive = timer_keepalive(state, timer)
        return (ns_id, unit, comm, state_name, keepalive, None, None, None, None, SOURCE_TIMER)

    def records(self):
        """One ``Record`` per socket, in namespace then kernel order (consumes the dumps)."""
        records = []
        orphans = []
        for ns_id, sockets in self._dumps:
            _add_records(records, ns_id, sockets, self._found, self._info, orphans)
        self._dumps = []
        _name_orphans(records, orphans)
        return records


_STATE_NAMES = _sockdiag.TCP_STATES


def gather(states=DEFAULT_STATES, netns=None, exact=True):
    """Dump every socket in ``states`` and find its owner and exact options: a ``Gathered``."""
    degraded = []
    if exact:
        reason = _procfd.exact_options_support()
        if reason:
            degraded.append("exact options unavailable (%s): source is the kernel timer" % reason)
            exact = False
    if os.geteuid() != 0:
        degraded.append(
            "not running as root: other users' processes and network namespaces are not "
            "visible, their sockets are attributed from the timer only (become: true)"
        )
    selected = select_namespaces(netns)
    handles = _parallel_scan.start_scan(exact=exact, jobs=_scan_jobs())
    try:
        dumps = dump_namespaces(selected, states, degraded, explicit=bool(netns))
    except BaseException:
        _parallel_scan.abandon_scan(handles)
        raise
    found, refused = _parallel_scan.finish_scan(handles)
    if refused:
        degraded.append(
            "%d processes refused exact options (%s): their sockets use source timer"
            % (len(refused), "; ".join(sorted(set(refused.values()))[:3]))
        )
    namespaces = {}
    ordered = []
    for entry in selected:
        if entry["id"] not in dumps:
            continue
        sysctls, sockets = dumps[entry["id"]]
        namespaces[entry["id"]] = dict(
            sysctls,
            inode=entry["inode"],
            names=entry["names"],
            current=entry["current"],
            sockets=len(sockets),
        )
        namespaces[entry["id"]].update(stall_counts(sockets))
        ordered.append((entry["id"], sockets))
    return Gathered(ordered, found, namespaces, degraded)


def _add_records(records, ns_id, sockets, found, info, orphans):
    """Turn one namespace's dump into records, consuming ``sockets`` and ``found`` as it goes:
    at 100k sockets, holding both forms at once would add ~40 MB to the peak. Records with no
    visible owner carry their cgroup id as unit; their indexes are added to ``orphans``."""
    states = _sockdiag.TCP_STATES
    append = records.append
    pop_socket = sockets.pop
    pop_found = found.pop
    start = len(records)
    ownerless = []
    entry_size = _procfd.ENTRY_SIZE
    seconds = _procfd.user_timeout_seconds
    while sockets:
        sock = pop_socket()
        family, state, timer, _retrans, sockid, _expires, _uid, inode, cgroup_id = sock[:9]
        entry = pop_found(inode, None)
        if entry is not None and len(entry) == entry_size:  # the usual case, fewest steps
            pid, keepalive, idle, intvl, cnt, user_timeout = entry
            user_timeout = seconds(user_timeout)
            comm, unit = info[pid]
            source = SOURCE_GETSOCKOPT
        else:
            if entry is None:
                pid = comm = None
                unit = cgroup_id
                ownerless.append(len(records))
            else:
                pid = entry[0]
                comm, unit = info[pid]
            keepalive = timer_keepalive(state, timer)
            idle = intvl = cnt = user_timeout = None
            source = SOURCE_TIMER
        fields = (
            ns_id,
            pid,
            comm,
            unit,
            states[state],
            keepalive,
            idle,
            intvl,
            cnt,
            source,
            family,
            sockid,
            user_timeout,
        ) + sock[9:13]
        append(_new_record(Record, fields))
    records[start:] = records[start:][::-1]  # popped from the end: back to the kernel's order
    last = len(records) - 1
    orphans.extend(start + last - index for index in ownerless)


def _matches(record, patterns):
    for pattern in patterns:
        for name in (record[UNIT], record[COMM]):
            if name is not None and fnmatch.fnmatchcase(name, pattern):
                return True
    return False


def select(records, units=None, ports=None, keepalive=None):
    """Records that pass the filters: ``units`` patterns (unit or command name), ``ports``
    (local or remote), ``keepalive`` ``enabled`` / ``disabled`` (unknown passes neither)."""
    if not (units or ports or keepalive):
        return records
    wanted_ports = set(ports or ())
    wanted_state = {"enabled": True, "disabled": False}.get(keepalive)
    result = []
    for record in records:
        if keepalive and record[KEEPALIVE] is not wanted_state:
            continue
        if units and not _matches(record, units):
            continue
        if wanted_ports and not wanted_ports.intersection(_sockdiag.ports(record[SOCKID])):
            continue
        result.append(record)
    return result


def crossing_the_path(records):
    """Established connections to another host: the sockets a middlebox can cut.

    Listeners carry no traffic (what they pass on to accepted connections shows in those),
    and a connection to a loopback address never leaves the host.
    """
    loopback = _sockdiag.loopback_peer
    return [
        record
        for record in records
        if record[STATE] == "established" and not loopback(record[FAMILY], record[SOCKID])
    ]


def summary_rows(records):
    """Counts per namespace x unit x command x state x effective values x source, with the
    sockets of each group retransmitting or probing now."""
    counts = {}
    # counted in C; the few distinct (group, state, retransmits, probes) are added up here
    grouped = Counter(zip(map(_SUMMARY_KEY, records), map(_RECORD_STALL, records)))  # noqa: B905
    for (key, stall_fields), count in grouped.items():
        _add_count(counts, key, count, stall_of(*stall_fields))
    return _rows_of(counts)


def _add_count(counts, key, count, stall):
    """Add ``count`` sockets to group ``key`` of ``counts`` (key -> [count, retransmitting,
    probing]); ``stall`` is what they are doing (``stall_of``)."""
    totals = counts.get(key)
    if totals is None:
        totals = counts[key] = [0, 0, 0]
    totals[0] += count
    if stall is not None:
        totals[1 + STALLS.index(stall)] += count


def _rows_of(counts):
    rows = [_summary_row(key, totals) for key, totals in counts.items()]
    rows.sort(key=_row_order)
    return rows


def _summary_row(key, totals):
    row = dict(zip(GROUP_KEYS, key))  # noqa: B905 - hosts may run Python < 3.10
    row["count"], row[RETRANSMITTING], row[PROBING] = totals
    return row


def _row_order(row):
    return tuple("" if row[key] is None else str(row[key]) for key in GROUP_KEYS)


def set_by_app(record, sysctls):
    """Which values differ from the namespace default (so the application set them)."""
    if record.source != SOURCE_GETSOCKOPT or not record.keepalive:
        return None
    return {
        "idle": record.idle != sysctls[OPTION_OF["time"]],
        "intvl": record.intvl != sysctls[OPTION_OF["intvl"]],
        "cnt": record.cnt != sysctls[OPTION_OF["probes"]],
    }


def socket_rows(records, namespaces, limit=None):
    """Per-socket rows, at most ``limit`` of them."""
    rows = []
    for record in records[:limit] if limit is not None else records:
        local, remote = _sockdiag.endpoints(record.family, record.sockid)
        rows.append(
            {
                "netns": record.netns,
                "pid": record.pid,
                "comm": record.comm,
                "unit": record.unit,
                "state": record.state,
                "local": local,
                "remote": remote,
                "keepalive": record.keepalive,
                "idle": record.idle,
                "intvl": record.intvl,
                "cnt": record.cnt,
                "user_timeout": record.user_timeout,
                "source": record.source,
                "set_by_app": set_by_app(record, namespaces[record.netns]),
                "retransmits": record.retransmits,
                "probes": record.probes,
                "backoff": record.backoff,
                "unacked": record.unacked,
                "stall": stall_of(record.state, record.retransmits, record.probes),
            }
        )
    return rows
