#!/usr/bin/env python3
"""tests/lab/loadstat.py - figures from load.py's output.

  loadstat.py FILE window FROM_MS TO_MS
      requests that started in [FROM, TO): "total=N ok=N direct=N proxied=N fail=N
      fail_kinds=k:n,... fail_ms_median=N"
  loadstat.py FILE within FROM_MS TO_MS
      the same for the requests that started at or after FROM and ended
      before TO: the ones that lived wholly inside [FROM, TO)
  loadstat.py FILE first KIND FROM_MS
      ms from FROM to the end of the first request of KIND (direct, proxied,
      ok) that started at or after FROM; -1 if none
  loadstat.py FILE same BEFORE_MS AFTER_MS
      for each client, the proxy of its last proxied request ending before
      BEFORE and of its first proxied request starting after AFTER:
      "clients=N same=N moved=N missing=N" (missing: clients proxied before
      BEFORE with no proxied request after AFTER yet)
"""
import sys


def rows(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4:
                out.append((int(p[0]), int(p[1]), p[2], p[3]))
    return out


def kind_of(res):
    if res.startswith("fail:"):
        return "fail"
    return "direct" if res == "direct" else "proxied"


def main():
    r = rows(sys.argv[1])
    mode = sys.argv[2]
    if mode in ("window", "within"):
        a, b = int(sys.argv[3]), int(sys.argv[4])
        w = [x for x in r if a <= x[0] < b and (mode == "window" or x[1] < b)]
        kinds, fails_ms = {}, []
        for x in w:
            if kind_of(x[3]) == "fail":
                k = x[3][5:]
                kinds[k] = kinds.get(k, 0) + 1
                fails_ms.append(x[1] - x[0])
        fails_ms.sort()
        n = {k: sum(1 for x in w if kind_of(x[3]) == k) for k in ("direct", "proxied", "fail")}
        print("total=%d ok=%d direct=%d proxied=%d fail=%d fail_kinds=%s fail_ms_median=%d" % (
            len(w), n["direct"] + n["proxied"], n["direct"], n["proxied"], n["fail"],
            ",".join("%s:%d" % kv for kv in sorted(kinds.items())) or "none",
            fails_ms[len(fails_ms) // 2] if fails_ms else -1))
    elif mode == "first":
        want, a = sys.argv[3], int(sys.argv[4])
        ends = [x[1] for x in r if x[0] >= a and
                (kind_of(x[3]) == want or (want == "ok" and kind_of(x[3]) != "fail"))]
        print(min(ends) - a if ends else -1)
    elif mode == "same":
        before, after = int(sys.argv[3]), int(sys.argv[4])
        old, new = {}, {}
        for x in sorted(r):
            if kind_of(x[3]) != "proxied":
                continue
            if x[1] < before:
                old[x[2]] = x[3]
            elif x[0] >= after and x[2] not in new:
                new[x[2]] = x[3]
        both = [c for c in old if c in new]
        same = sum(1 for c in both if old[c] == new[c])
        print("clients=%d same=%d moved=%d missing=%d" % (len(both), same, len(both) - same,
                                                          len(old) - len(both)))


if __name__ == "__main__":
    main()
