#!/usr/bin/env python3
"""Generate shared/followups/src/geo/zones_data.rs: US ZIP codes and NANP area codes -> IANA time zones.

What it does
------------
For every civilian ZIP code in the `zipcodes` dataset (50 states, DC, PR, VI, GU, MP, AS) it decides a set of
candidate IANA zones, then writes compact Rust tables: the zones, the distinct candidate sets, one set per ZIP3,
exact ZIP5 ranges inside the ZIP3 areas that have two or more zones, and one set per US/territory area code.
A set with two or more zones means "only moments allowed in all of them" (the stricter reading).

How a ZIP's candidates are decided
----------------------------------
1. Point zone: the timezone-boundary-builder polygon (via `timezonefinder`) at the ZIP's centroid. Fallback, when
   the centroid is missing (0,0) or falls outside every land/territorial-water polygon: the dataset's `timezone`.
2. The dataset's own `timezone` field is added when its current rules differ from the point zone's.
3. Area check (ZIPs whose centroid is within reach of a zone line): the ZIP's area is approximated by its Voronoi
   cell among the centroids of the active STANDARD ZIPs (PO BOX ZIPs get the cell they would have if added; UNIQUE
   ZIPs are single buildings and stay points). The cell is sampled along 24 rays out to 60 km, and no further than
   1.5 x the distance to the ZIP's 3rd-nearest STANDARD neighbour (so cells along a shore do not reach across open
   water, e.g. Lake Michigan's WI/MI line). A zone found there is added when its current rules differ from those
   already chosen and the ZIP nearest to the sample point among those whose main zone has these rules (within
   100 km) is in the same state: ZIPs rarely cross state lines and many zone lines are state lines, so a zone seen
   across a state line is the neighbour state's. Canadian and Mexican zones never count.
"Current rules" = identical UTC offsets at every hour from 2026-01-01 to 2036-12-31 (tzdata package): names such as
America/Detroit vs America/New_York or America/Indiana/Knox vs America/Chicago never make a ZIP ambiguous, but the
name the source gives is kept (every name is checked to be a real IANA zone or link).
A ZIP3's set is the union of its ZIPs' sets. An area code's set is the union of the zones from steps 1-2 of the ZIPs
that list it (an area code belongs to rate centres, i.e. places, not to a ZIP's outline), keeping only codes that
libphonenumber (`phonenumbers`) assigns to the US or PR, VI, GU, MP, AS.
Not included: military APO/FPO/DPO ZIPs (states AA, AE, AP: no zone) and the freely associated states (FM, MH, PW:
not US territories, not NANP; the dataset's zones for FM are also wrong for Pohnpei and Kosrae).

Sources (pinned below, all installed from the ordinary package registry, used offline)
------------------------------------------------------------------------------------
- zipcodes 3.0.0 (MIT): bundled USPS ZIP records with `timezone`, `area_codes`, `lat`/`long`, `state`,
  `zip_code_type`, `active`. Built 2026-06-14 (wheel SBOM timestamp) from the unitedstateszipcodes.org free
  database (zone, area codes, county), GeoNames (coordinates, CC BY 4.0) and the USPS ZIP Locale Detail list.
- timezonefinder 9.0.0 (MIT) with timezonefinder-data 3.2026.3.post1: timezone-boundary-builder release 2026c
  polygons (ODbL 1.0, derived from OpenStreetMap).
- tzdata 2026.6 (IANA tz database 2026f, public domain): zone/link names and rules.
- phonenumbers 9.0.43 (Apache-2.0, libphonenumber metadata): which NANP area codes are US/territory codes.

How to run
----------
    python3 infra/zones/generate.py          # from the repo root; needs Python >= 3.11 and the package registry

It creates .local/zones-venv (gitignored) if missing, installs the pinned wheels into it, re-executes itself
there, and rewrites shared/followups/src/geo/zones_data.rs. The output is sorted and carries no timestamp other
than the fixed data versions, so rerunning gives a byte-identical file.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".local" / "zones-venv"
OUT = REPO / "shared" / "followups" / "src" / "geo" / "zones_data.rs"

# Every package in the environment, pinned (the five sources and their dependencies).
PINS = [
    "zipcodes==3.0.0",
    "timezonefinder==9.0.0",
    "timezonefinder-data==3.2026.3.post1",
    "tzdata==2026.6",
    "phonenumbers==9.0.43",
    "numpy==2.4.6",
    "h3==4.5.0",
    "cffi==2.1.1",
    "pycparser==3.12",
    "flatbuffers==25.12.19",
]

# Parameters of the method (see the docstring).
EXCLUDED_STATES = {"AA", "AE", "AP", "FM", "MH", "PW"}
NANP_REGIONS = {"US", "PR", "VI", "GU", "MP", "AS"}
RULES_FROM = (2026, 1, 1)
RULES_UNTIL = (2037, 1, 1)
CELL_RAYS = 24
CELL_RADII_KM = [0.5, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 23, 26, 30, 34, 38, 42, 46, 50, 55, 60]
CELL_CAP_NTH = 3  # a ray also stops at CELL_CAP_FACTOR x the distance to the ZIP's 3rd-nearest site: cells along a
CELL_CAP_FACTOR = 1.5  # shore would otherwise reach across open water (e.g. Lake Michigan's WI/MI line)
SAME_STATE_KM = 100  # a zone found in the cell counts only if the nearest ZIP (within this distance) whose main zone
# has its rules is in the same state: ZIPs rarely cross state lines, and many zone lines are state lines
KM_PER_DEG = 111.32
GRID_DEG = 0.25
MAX_WIDTH = 120


def log(msg):
    print(f"[zones] {msg}", flush=True)


# --------------------------------------------------------------------------------------------------------------
# Bootstrap: own virtualenv with pinned packages, then re-exec inside it.
# --------------------------------------------------------------------------------------------------------------


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def bootstrap():
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if sys.version_info < (3, 11):
        sys.exit("infra/zones/generate.py needs Python >= 3.11 (timezonefinder 9 does)")
    py = venv_python()
    if not py.exists():
        log(f"creating {VENV.relative_to(REPO)}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    marker = VENV / "zones-pins.txt"
    wanted = "\n".join(PINS) + "\n"
    if not marker.exists() or marker.read_text() != wanted:
        log("installing pinned packages: " + ", ".join(PINS[:5]) + " (+ dependencies)")
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary=:all:", *PINS],
            check=True,
        )
        marker.write_text(wanted)
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def source_versions():
    import importlib.metadata as md
    import json

    import timezonefinder_data
    import tzdata

    dist = md.distribution("zipcodes")
    built = None
    for f in dist.files or []:
        if str(f).endswith(".cyclonedx.json"):
            built = json.loads(f.locate().read_text())["metadata"]["timestamp"][:10]
    tbb = (Path(timezonefinder_data.DATA_DIR) / "data_version.txt").read_text().strip()
    return {
        "zipcodes": dist.version,
        "zipcodes_built": built or "unknown",
        "timezonefinder": md.version("timezonefinder"),
        "timezonefinder_data": md.version("timezonefinder-data"),
        "tbb": tbb,
        "tzdata": md.version("tzdata"),
        "iana": tzdata.IANA_VERSION,
        "phonenumbers": md.version("phonenumbers"),
    }


class Rules:
    """Zone names (IANA zones and links) and 'same current rules' classes, from the tzdata package only."""

    def __init__(self):
        import datetime
        import importlib.resources
        import zoneinfo

        zoneinfo.reset_tzpath([])  # never the system's zoneinfo: results must not depend on the machine
        self._zoneinfo = zoneinfo
        self._dt = datetime
        self.names = set(importlib.resources.files("tzdata").joinpath("zones").read_text().split())
        self._class_of = {}
        self._classes = {}

    def valid(self, name):
        return name in self.names

    def cls(self, name):
        if name not in self._class_of:
            dt = self._dt
            tz = self._zoneinfo.ZoneInfo(name)
            t = dt.datetime(*RULES_FROM, tzinfo=dt.timezone.utc)
            end = dt.datetime(*RULES_UNTIL, tzinfo=dt.timezone.utc)
            step = dt.timedelta(hours=1)
            offsets = []
            while t < end:
                offsets.append(int(t.astimezone(tz).utcoffset().total_seconds()))
                t += step
            key = tuple(offsets)
            self._class_of[name] = self._classes.setdefault(key, len(self._classes))
        return self._class_of[name]


def load_zips(rules, finder):
    import zipcodes

    def point_zone(lat, lon):
        z = finder.timezone_at(lng=lon, lat=lat)
        return None if z is None or z.startswith("Etc/") else z

    out = []
    for r in zipcodes.list_all():
        if r["state"] in EXCLUDED_STATES:
            continue
        lat, lon = float(r["lat"]), float(r["long"])
        has_point = not (lat == 0.0 and lon == 0.0)
        ds = r["timezone"] if rules.valid(r["timezone"]) else None
        pz = point_zone(lat, lon) if has_point else None
        if pz is not None and not rules.valid(pz):
            raise SystemExit(f"polygon zone {pz!r} at ZIP {r['zip_code']} is not an IANA name")
        out.append(
            {
                "zip": r["zip_code"],
                "state": r["state"],
                "type": r["zip_code_type"],
                "active": bool(r["active"]),
                "city": r["city"],
                "lat": lat,
                "lon": lon,
                "has_point": has_point,
                "dataset_zone": ds,
                "dataset_zone_raw": r["timezone"],
                "point_zone": pz,
                "area_codes": sorted(set(r["area_codes"])),
            }
        )
    out.sort(key=lambda x: x["zip"])
    return out, point_zone


def decide(zips, rules, point_zone):
    """Fill each ZIP's 'zones' (candidates, first = its main zone) and 'why' (how each extra zone came in)."""
    import math
    from collections import defaultdict

    us_zones = set()
    for x in zips:
        main = x["point_zone"] or x["dataset_zone"]
        if main is None:
            raise SystemExit(f"ZIP {x['zip']}: no zone from the polygons nor the dataset")
        x["zones"] = [main]
        x["why"] = {}
        ds = x["dataset_zone"]
        if ds and rules.cls(ds) != rules.cls(main):
            x["zones"].append(ds)
            x["why"][ds] = "dataset"
        us_zones.add(main)
        if ds:
            us_zones.add(ds)

    sites = [x for x in zips if x["type"] == "STANDARD" and x["active"] and x["has_point"]]
    grid = defaultdict(list)
    for s in sites:
        grid[(math.floor(s["lat"] / GRID_DEG), math.floor(s["lon"] / GRID_DEG))].append(s)

    def dist2(lat1, lon1, lat2, lon2):
        c = math.cos(math.radians((lat1 + lat2) / 2))
        return ((lat1 - lat2) * KM_PER_DEG) ** 2 + ((lon1 - lon2) * KM_PER_DEG * c) ** 2

    def near(lat, lon, km):
        gi, gj = math.floor(lat / GRID_DEG), math.floor(lon / GRID_DEG)
        ki = int(km / KM_PER_DEG / GRID_DEG) + 1
        kj = int(km / (KM_PER_DEG * max(0.1, math.cos(math.radians(lat)))) / GRID_DEG) + 1
        for a in range(gi - ki, gi + ki + 1):
            for b in range(gj - kj, gj + kj + 1):
                yield from grid.get((a, b), ())

    def in_cell(x, lat, lon):
        d2 = dist2(lat, lon, x["lat"], x["lon"])
        r = math.sqrt(d2)
        return not any(s is not x and dist2(lat, lon, s["lat"], s["lon"]) < d2 for s in near(lat, lon, r))

    by_class = defaultdict(lambda: defaultdict(list))
    for s in zips:
        if s["has_point"]:
            by_class[rules.cls(s["zones"][0])][
                (math.floor(s["lat"] / GRID_DEG), math.floor(s["lon"] / GRID_DEG))
            ].append(s)

    def same_state_has(x, z, lat, lon):
        """Is the ZIP nearest to the sample point among those whose main zone has z's rules in x's state (and within
        SAME_STATE_KM)? If it is in another state, the zone there is the other state's, across a state line."""
        if not SAME_STATE_KM:
            return True
        cells = by_class[rules.cls(z)]
        gi, gj = math.floor(lat / GRID_DEG), math.floor(lon / GRID_DEG)
        kmax = int(SAME_STATE_KM / (KM_PER_DEG * max(0.1, math.cos(math.radians(lat)))) / GRID_DEG) + 1
        best, bd = None, SAME_STATE_KM * SAME_STATE_KM
        for k in range(kmax + 1):
            for a in range(gi - k, gi + k + 1):
                for b in range(gj - k, gj + k + 1):
                    if max(abs(a - gi), abs(b - gj)) != k:
                        continue
                    for s in cells.get((a, b), ()):
                        d = dist2(lat, lon, s["lat"], s["lon"])
                        if d < bd or (d == bd and best is not None and s["zip"] < best["zip"]):
                            best, bd = s, d
            if best is not None and math.sqrt(bd) < k * GRID_DEG * KM_PER_DEG * max(0.1, math.cos(math.radians(lat))):
                break  # rings further out are all farther than the best found
        return best is not None and best["state"] == x["state"]

    reach = 2 * CELL_RADII_KM[-1]
    checked = 0
    for x in zips:
        if not x["has_point"] or x["type"] not in ("STANDARD", "PO BOX"):
            continue
        classes = {rules.cls(z) for z in x["zones"]}
        lat0, lon0 = x["lat"], x["lon"]
        if all(
            rules.cls(s["zones"][0]) in classes
            for s in near(lat0, lon0, reach)
            if dist2(lat0, lon0, s["lat"], s["lon"]) < reach * reach
        ):
            continue  # no ZIP within reach resolves to other rules: no zone line nearby
        checked += 1
        c = math.cos(math.radians(lat0))
        cap = CELL_RADII_KM[-1]
        if CELL_CAP_FACTOR:
            dists = sorted(
                d
                for d in (math.sqrt(dist2(lat0, lon0, s["lat"], s["lon"])) for s in near(lat0, lon0, reach))
                if d > 0.001
            )
            if len(dists) >= CELL_CAP_NTH:
                cap = min(cap, CELL_CAP_FACTOR * dists[CELL_CAP_NTH - 1])
        for k in range(CELL_RAYS):
            ang = 2 * math.pi * k / CELL_RAYS
            for r in CELL_RADII_KM:
                if r > cap:
                    break
                lat = lat0 + r * math.cos(ang) / KM_PER_DEG
                lon = lon0 + r * math.sin(ang) / (KM_PER_DEG * c)
                if not in_cell(x, lat, lon):
                    break  # cells are convex: the rest of the ray is outside too
                z = point_zone(lat, lon)
                if z in us_zones and rules.cls(z) not in classes and same_state_has(x, z, lat, lon):
                    classes.add(rules.cls(z))
                    x["zones"].append(z)
                    x["why"][z] = "area"
    return checked


def area_code_regions(codes):
    import phonenumbers

    out = {}
    for code in codes:
        regions = set()
        for sub in ("2345678", "5550100", "8675309"):
            n = phonenumbers.parse("+1" + code + sub)
            regions.add(phonenumbers.region_code_for_number(n))
        out[code] = regions
    return out


# --------------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------------


def build():
    from timezonefinder import TimezoneFinder

    versions = source_versions()
    log(
        f"sources: zipcodes {versions['zipcodes']} (built {versions['zipcodes_built']}), timezonefinder "
        f"{versions['timezonefinder']} + data {versions['timezonefinder_data']} (timezone-boundary-builder "
        f"{versions['tbb']}), tzdata {versions['tzdata']} (IANA {versions['iana']}), phonenumbers "
        f"{versions['phonenumbers']}"
    )
    rules = Rules()
    zips, point_zone = load_zips(rules, TimezoneFinder())
    log(f"loaded {len(zips)} ZIPs (military AA/AE/AP and FM/MH/PW left out)")
    checked = decide(zips, rules, point_zone)
    log(f"area check ran for {checked} ZIPs near a zone line")

    def key(zs):
        return tuple(sorted(set(zs)))

    # ZIP3 -> union of its ZIPs' sets
    by3 = {}
    for x in zips:
        by3.setdefault(int(x["zip"][:3]), []).append(x)
    zip3_set = {z3: key(z for x in xs for z in x["zones"]) for z3, xs in by3.items()}

    # ZIP5 ranges inside multi-zone ZIP3s: runs of consecutive listed ZIPs with the same set
    ranges = []
    for z3 in sorted(by3):
        if len(zip3_set[z3]) < 2:
            continue
        run = None
        for x in by3[z3]:
            s, n = key(x["zones"]), int(x["zip"])
            if run and run[2] == s:
                run[1] = n
            else:
                if run:
                    ranges.append(tuple(run))
                run = [n, n, s]
        ranges.append(tuple(run))

    # Area codes -> union of the sets of the ZIPs listing them, US and territories only
    ac_zones = {}
    for x in zips:
        for a in x["area_codes"]:
            ac_zones.setdefault(a, set()).update(z for z in x["zones"] if x["why"].get(z) != "area")
    regions = area_code_regions(sorted(ac_zones))
    dropped = sorted(a for a, r in regions.items() if not (r and r <= NANP_REGIONS))
    area = {int(a): key(zs) for a, zs in ac_zones.items() if a not in dropped}

    all_sets = set(zip3_set.values()) | {r[2] for r in ranges} | set(area.values())
    zones = sorted({z for s in all_sets for z in s})
    for z in zones:
        if not rules.valid(z):
            raise SystemExit(f"{z!r} is not an IANA zone name")
    zi = {z: i for i, z in enumerate(zones)}
    sets = sorted({tuple(sorted(zi[z] for z in s)) for s in all_sets}, key=lambda s: (len(s), s))
    if len(zones) > 256 or len(sets) > 256:
        raise SystemExit("more than 256 zones or sets: widen the u8 indices")
    si = {s: i for i, s in enumerate(sets)}

    def idx(s):
        return si[tuple(sorted(zi[z] for z in s))]

    return {
        "versions": versions,
        "rules": rules,
        "zips": zips,
        "zip3_set": zip3_set,
        "by3": by3,
        "ranges": ranges,
        "area": area,
        "dropped_area_codes": dropped,
        "zones": zones,
        "sets": sets,
        "idx": idx,
    }


def states_of(xs):
    return sorted({x["state"] for x in xs})


def render(d):
    v = d["versions"]
    zones, sets, idx = d["zones"], d["sets"], d["idx"]
    lines = [
        "// @generated by infra/zones/generate.py (`python3 infra/zones/generate.py` from the repo root). Do not edit.",
        (
            f"// Source: zipcodes {v['zipcodes']} (US ZIP records, data built {v['zipcodes_built']}), time zone "
            f"polygons of timezone-boundary-builder {v['tbb']}"
        ),
        (
            f"// (timezonefinder {v['timezonefinder']}, timezonefinder-data {v['timezonefinder_data']}), zone rules "
            f"of IANA tzdata {v['iana']} (tzdata {v['tzdata']}),"
        ),
        f"// area code regions of phonenumbers {v['phonenumbers']}. Method and licences: infra/zones/README.md.",
        "",
    ]

    def array(decl, doc, items):
        """items: list of (comment or None, text). rustfmt layout: one line if it fits and has no comments."""
        out = [doc]
        flat = f"{decl} = &[{', '.join(t for _, t in items)}];"
        if all(c is None for c, _ in items) and len(flat) <= MAX_WIDTH:
            out.append(flat)
        else:
            out.append(f"{decl} = &[")
            for c, t in items:
                if c is not None:
                    out.append(f"    // {c}")
                out.append(f"    {t},")
            out.append("];")
        return out

    lines += array(
        "pub(crate) const ZONES: &[&str]",
        "/// IANA zones, by index.",
        [(None, f'"{z}"') for z in zones],
    )
    lines += array(
        "pub(crate) const ZONE_SETS: &[&[u8]]",
        '/// Candidate sets of zone indices (sorted, deduplicated); a set with two or more zones means "the stricter of '
        'these", i.e. only moments allowed in all of them.',
        [(f"{i}: {' + '.join(zones[j] for j in s)}", "&[" + ", ".join(map(str, s)) + "]") for i, s in enumerate(sets)],
    )
    items, prev = [], None
    for z3 in sorted(d["by3"]):
        st = ", ".join(states_of(d["by3"][z3]))
        items.append((st if st != prev else None, f"({z3}, {idx(d['zip3_set'][z3])})"))
        prev = st
    lines += array(
        "pub(crate) const ZIP3: &[(u16, u8)]",
        "/// Every ZIP3 the dataset has, sorted: (zip3, index into ZONE_SETS). A ZIP3 wholly in one zone has a one-zone "
        "set.",
        items,
    )
    items, prev = [], None
    for lo, hi, s in d["ranges"]:
        z3 = lo // 100
        c = None
        if z3 != prev:
            c = f"{z3:03d} {', '.join(states_of(d['by3'][z3]))}"
        items.append((c, f"({lo}, {hi}, {idx(s)})"))
        prev = z3
    lines += array(
        "pub(crate) const ZIP5: &[(u32, u32, u8)]",
        "/// Inside ZIP3 areas whose set has two or more zones: inclusive ZIP5 ranges (first, last, index into "
        "ZONE_SETS), sorted, non-overlapping. A range may span ZIP codes the dataset does not list only when the "
        "listed ZIPs on both sides of the gap have the same set.",
        items,
    )
    lines += array(
        "pub(crate) const AREA_CODES: &[(u16, u8)]",
        "/// NANP area codes of the US and its territories, sorted: (area code, index into ZONE_SETS).",
        [(None, f"({a}, {idx(s)})") for a, s in sorted(d["area"].items())],
    )
    return "\n".join(lines) + "\n"


def main():
    bootstrap()
    d = build()
    text = render(d)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    old = OUT.read_text() if OUT.exists() else None
    OUT.write_text(text)
    zips = d["zips"]
    amb = [x for x in zips if len(x["zones"]) > 1]
    split3 = [z3 for z3, s in d["zip3_set"].items() if len(s) > 1]
    rules = d["rules"]
    rule_split3 = [z3 for z3 in split3 if len({rules.cls(z) for z in d["zip3_set"][z3]}) > 1]
    log(f"ZIPs: {len(zips)} ({sum(x['active'] for x in zips)} active), in {len(d['by3'])} ZIP3s")
    log(
        f"ambiguous ZIPs (2+ zones): {len(amb)} — dataset vs polygon: "
        f"{sum('dataset' in x['why'].values() for x in amb)}, area check: {sum('area' in x['why'].values() for x in amb)}"
    )
    log(f"ZIP3s with 2+ zones: {len(split3)} ({len(rule_split3)} with different current rules, the rest names only)")
    log(f"ZIP5 ranges: {len(d['ranges'])}")
    log(
        f"area codes: {len(d['area'])} ({sum(len(s) > 1 for s in d['area'].values())} with 2+ zones); "
        f"left out as not US/territory: {len(d['dropped_area_codes'])}"
    )
    log(f"zones: {len(d['zones'])}, zone sets: {len(d['sets'])}")
    log(f"wrote {OUT.relative_to(REPO)} ({len(text.encode())} bytes, {'unchanged' if old == text else 'updated'})")


if __name__ == "__main__":
    main()
