#!/usr/bin/env python3
"""A realistic week of coupon and signup traffic for `make evaluate`, drawn from real
address space, as replay's JSON lines (one request a line, with two extra keys the
replay ignores: `scenario` and `kind`, `customer` or `attack`).

    realistic.py --asn-csv DIR --country GeoLite2-Country.mmdb --seed 2026 > week.jsonl

The generator's assumptions, which the evaluation is only as good as:

Addresses
- Home customers sit on the access ISPs of HOME_ISPS (by AS number, ranges from the real
  RouteViews + DB-IP IP-to-ASN table); an address counts for a country only when the real
  GeoLite2 Country database puts it there, and the person then lives there.
- Mobile customers sit on the carriers of data/mobile-asns.txt (weighted by their
  country's share of customers), behind carrier-grade NAT: each carrier a pool of 8
  public addresses over 2 /24s, shared by everyone on it — half of them at lunchtime.
- Offices: one public address of a home ISP for all colleagues (5 to 25 of them), on
  weekdays, in a two-hour window after a company newsletter.
- Travellers: a person of one country on a hotel's or café's line in another (home
  ISPs of that country); roaming mobile data is not a traveller (its address is home's).
- Privacy-VPN customers: real Mullvad, ProtonVPN and PIA server addresses; the person's
  own country is unrelated to the server's.
- Private Relay users: real iCloud Private Relay egress prefixes, persons in the US, GB,
  DE, FR, JP, CA, AU (Safari users).
- Scripts: the real Tor exit list, and rented machines: AWS's EC2 ranges (not its own
  service ranges) and DigitalOcean's.
- Shares of a day's customer visits: home 57 %, mobile 22 %, Private Relay 5 %,
  travellers 3 %, privacy VPN 1.5 %, offices the rest (six offices a weekday).

Persons
- A person has one time zone and one Accept-Language from LOCALES (checked against the
  shipped tzdb and CLDR data at start: a zone of the country, a language spoken there),
  a device cookie of their own (a browser keeps it), and visits in their local daytime
  (a triangle over 07:00-23:30 peaking at 19:00 local; mobile customers also at
  lunchtime, 12:00-14:00, in bursts). 5 % of home customers are expats: a foreign
  language, the local clock. 3 % of pages report no time zone (old browsers, privacy).
- Customers use the public codes WELCOME10 and SAVE20, their own single-use codes
  (BDAY-…, GIFT-…, once, sometimes retried), and at home their country's regional code
  (PPP-IN-65, PPP-BR-40, …). Travellers and VPN users use their own country's codes.
- Signups carry a referral code in 40 % of cases: a friend's (one of 4,000 codes, each
  used by a handful of friends, at most a few a day), in an office often a colleague's.

Attacks (the seeds')
- residential-proxy rotation: one person in New York (en-US, one browser) redeems
  PPP-IN-65 400 times in six hours, each time through a fresh Indian residential address;
- PPP fraud through VPNs: 30 people in the US, GB and DE each redeem 5 to 10 regional
  codes of the VPN server's country, through that server, with their own clock;
- a referral Sybil farm on one residential /24 (300 signups in two hours, one code,
  a fresh device each) and one on a datacenter (300 signups from cloud addresses);
- a click farm: one referral code, 150 signups over two days from 40 countries, each
  worker on a home or mobile line of their country with a consistent local clock;
- scripts from Tor exits and cloud ranges: coupon guessing without a browser's headers;
- a single-use code posted publicly: GIFT-8K2Q9 redeemed 80 times in an evening by
  different real people from their own networks.
"""
import argparse
import datetime
import ipaddress
import json
import random
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import maxminddb

ROOT = Path(__file__).resolve().parent.parent.parent
START = datetime.datetime(2026, 11, 16, tzinfo=datetime.timezone.utc)  # a Monday

# country -> (time zones people there use, Accept-Language of a browser there)
LOCALES = {
    "US": (["America/New_York", "America/Chicago", "America/Los_Angeles", "America/Denver"], "en-US,en;q=0.9"),
    "GB": (["Europe/London"], "en-GB,en;q=0.9"),
    "DE": (["Europe/Berlin"], "de-DE,de;q=0.9,en;q=0.8"),
    "FR": (["Europe/Paris"], "fr-FR,fr;q=0.9,en;q=0.8"),
    "IN": (["Asia/Kolkata"], "en-IN,en;q=0.9,hi;q=0.8"),
    "BR": (["America/Sao_Paulo"], "pt-BR,pt;q=0.9,en;q=0.8"),
    "ES": (["Europe/Madrid"], "es-ES,es;q=0.9"),
    "IT": (["Europe/Rome"], "it-IT,it;q=0.9,en;q=0.8"),
    "NL": (["Europe/Amsterdam"], "nl-NL,nl;q=0.9,en;q=0.8"),
    "SE": (["Europe/Stockholm"], "sv-SE,sv;q=0.9,en;q=0.8"),
    "JP": (["Asia/Tokyo"], "ja-JP,ja;q=0.9"),
    "CA": (["America/Toronto", "America/Vancouver"], "en-CA,en;q=0.9,fr-CA;q=0.8"),
    "AU": (["Australia/Sydney"], "en-AU,en;q=0.9"),
    "MX": (["America/Mexico_City"], "es-MX,es;q=0.9,en;q=0.8"),
    "ID": (["Asia/Jakarta"], "id-ID,id;q=0.9,en;q=0.8"),
    "TR": (["Europe/Istanbul"], "tr-TR,tr;q=0.9,en;q=0.8"),
    "PL": (["Europe/Warsaw"], "pl-PL,pl;q=0.9,en;q=0.8"),
    "KR": (["Asia/Seoul"], "ko-KR,ko;q=0.9,en;q=0.8"),
    "TW": (["Asia/Taipei"], "zh-TW,zh;q=0.9,en;q=0.8"),
    "PH": (["Asia/Manila"], "en-PH,en;q=0.9,fil;q=0.8"),
    "TH": (["Asia/Bangkok"], "th-TH,th;q=0.9,en;q=0.8"),
    "MY": (["Asia/Kuala_Lumpur"], "ms-MY,ms;q=0.9,en;q=0.8"),
    "ZA": (["Africa/Johannesburg"], "en-ZA,en;q=0.9"),
    "NG": (["Africa/Lagos"], "en-NG,en;q=0.9"),
    "KE": (["Africa/Nairobi"], "en-KE,en;q=0.9,sw;q=0.8"),
    "GH": (["Africa/Accra"], "en-GH,en;q=0.9"),
    "PK": (["Asia/Karachi"], "ur-PK,ur;q=0.9,en;q=0.8"),
    "BD": (["Asia/Dhaka"], "bn-BD,bn;q=0.9,en;q=0.8"),
    "EG": (["Africa/Cairo"], "ar-EG,ar;q=0.9,en;q=0.8"),
    "SA": (["Asia/Riyadh"], "ar-SA,ar;q=0.9,en;q=0.8"),
    "RU": (["Europe/Moscow"], "ru-RU,ru;q=0.9,en;q=0.8"),
    "UA": (["Europe/Kyiv"], "uk-UA,uk;q=0.9,en;q=0.8"),
    "AT": (["Europe/Vienna"], "de-AT,de;q=0.9,en;q=0.8"),
    "CH": (["Europe/Zurich"], "de-CH,de;q=0.9,fr;q=0.8"),
    "IE": (["Europe/Dublin"], "en-IE,en;q=0.9"),
    "CO": (["America/Bogota"], "es-CO,es;q=0.9"),
    "PE": (["America/Lima"], "es-PE,es;q=0.9"),
    "AR": (["America/Argentina/Buenos_Aires"], "es-AR,es;q=0.9"),
    "CL": (["America/Santiago"], "es-CL,es;q=0.9"),
    "BE": (["Europe/Brussels"], "nl-BE,nl;q=0.9,fr;q=0.8"),
    "PT": (["Europe/Lisbon"], "pt-PT,pt;q=0.9"),
    "VN": (["Asia/Ho_Chi_Minh"], "vi-VN,vi;q=0.9"),
}

# country -> access ISPs (AS numbers) whose home lines the customers there use
HOME_ISPS = {
    "US": [7922, 20115, 7018, 701, 22773],
    "GB": [2856, 5607, 5089],
    "DE": [3320, 8881, 3209, 6805],
    "FR": [3215, 12322, 5410, 15557],
    "IN": [24560, 9829, 17488, 24309],
    "BR": [18881, 28573, 26599],
    "ES": [3352, 12479],
    "IT": [3269, 1267],
    "NL": [9143, 1136],
    "SE": [3301, 29518],
    "JP": [4713, 2516, 17676],
    "CA": [812, 6327, 5769],
    "AU": [1221, 4804],
    "MX": [8151],
    "ID": [7713],
    "TR": [9121],
    "PL": [5617],
}
# customers' shares by home country
HOME_WEIGHTS = {"US": 30, "GB": 8, "DE": 9, "FR": 6, "IN": 10, "BR": 6, "ES": 3, "IT": 3,
                "NL": 2, "SE": 1, "JP": 4, "CA": 4, "AU": 2, "MX": 3, "ID": 4, "TR": 3, "PL": 2}
# regional-pricing codes, used at home by customers of these countries
PPP = {"IN": "PPP-IN-65", "BR": "PPP-BR-40", "ID": "PPP-ID-55", "TR": "PPP-TR-50",
       "MX": "PPP-MX-35", "PL": "PPP-PL-25"}
RELAY_COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "JP", "CA", "AU"]


def load_zone_countries():
    out = {}
    for line in (ROOT / "data/timezones.txt").read_text().splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        zone, ccs = line.split("\t", 1)
        out[zone.lower()] = set(c.strip() for c in ccs.split(","))
    return out


def load_spoken():
    out = {}
    for line in (ROOT / "data/territory-languages.txt").read_text().splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        cc, langs = line.split("\t", 1)
        out[cc] = set(langs.split())
    return out


def check_locales():
    zones, spoken = load_zone_countries(), load_spoken()
    for cc, (tzs, lang) in LOCALES.items():
        for tz in tzs:
            assert cc in zones.get(tz.lower(), set()), f"{tz} is not a zone of {cc} in tzdb"
            ZoneInfo(tz)
        first = lang.split(",")[0].split("-")[0]
        assert first in spoken.get(cc, set()), f"{first} is not spoken in {cc} (CLDR)"


class Space:
    """Real address space: ASN ranges, lists and feeds, located by GeoLite2 Country."""

    def __init__(self, asn_csv: Path, country_db: Path, rnd: random.Random):
        self.rnd = rnd
        self.geo = maxminddb.open_database(str(country_db))
        self.by_asn = {}
        with open(asn_csv / "asn-ipv4.csv", encoding="utf-8") as f:
            for line in f:
                a, z, n = line.split(",", 3)[:3]
                if n.isdigit():
                    self.by_asn.setdefault(int(n), []).append(
                        (int(ipaddress.IPv4Address(a)), int(ipaddress.IPv4Address(z))))

    def country(self, ip: str):
        rec = self.geo.get(ip)
        if not rec:
            return None
        # MaxMind's layout, or ip-location-db's ({"country_code": "US"})
        if "country_code" in rec:
            return rec["country_code"]
        c = rec.get("country") or rec.get("registered_country") or {}
        return c.get("iso_code")

    def in_asns(self, asns, country=None, tries=400):
        """An address of one of `asns` that GeoLite2 places in `country` (any, if None)."""
        ranges = [r for a in asns for r in self.by_asn.get(a, [])]
        if not ranges:
            raise SystemExit(f"no ranges for AS{asns} in the ASN table")
        for _ in range(tries):
            a, z = self.rnd.choice(ranges)
            ip = str(ipaddress.IPv4Address(self.rnd.randint(a, z)))
            if ip.endswith(".0") or ip.endswith(".255"):
                continue
            c = self.country(ip)
            if c and (country is None or c == country):
                return ip, c
        raise SystemExit(f"no address of AS{asns} in {country} after {tries} tries")


def prefixes(path: Path):
    out = []
    for line in path.read_text().splitlines():
        p = line.split("#")[0].split(",")[0].strip()
        if not p:
            continue
        try:
            n = ipaddress.ip_network(p, strict=False)
        except ValueError:
            continue
        if n.version == 4:
            out.append(n)
    return out


def vpn_servers():
    """The real VPN server addresses: Mullvad, ProtonVPN, PIA."""
    out = []
    for f in ["input_vpn_ips_mullvadvpn.txt", "input_vpn_ips_protonvpn.txt", "input_vpn_ips_pia.txt"]:
        out += prefixes(ROOT / "benches/detection" / f)
    return out


def mobile_carriers():
    """(AS number, country) of each carrier of data/mobile-asns.txt."""
    out = []
    for line in (ROOT / "data/mobile-asns.txt").read_text().splitlines():
        if line.startswith("AS"):
            out.append((int(line.split("\t")[0][2:]), line.split("# ")[1][:2]))
    return out


def pick(rnd, nets):
    n = rnd.choice(nets)
    return str(n.network_address + rnd.randrange(max(1, n.num_addresses)))


class Week:
    def __init__(self, space: Space, rnd: random.Random):
        self.space, self.rnd = space, rnd
        self.out = []
        self.devices = 0

    def device(self):
        self.devices += 1
        return f"d{self.rnd.getrandbits(48):012x}{self.devices}"

    def at_local(self, day, tz, hour):
        """UTC time of `hour` (float, local) on `day` in zone `tz`."""
        local = datetime.datetime(2026, 11, 16, tzinfo=ZoneInfo(tz)) + datetime.timedelta(days=day, hours=hour)
        return local.astimezone(datetime.timezone.utc)

    def daytime(self):
        return self.rnd.triangular(7, 23.5, 19)

    def emit(self, when, kind, scenario, ip, method, path, headers, body):
        if not (START <= when < START + datetime.timedelta(days=7)):
            return
        t = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.out.append((when, {"time": t, "ip": ip, "method": method, "path": path,
                                "headers": headers, "body": body,
                                "scenario": scenario, "kind": kind}))

    def browser_headers(self, person, content_type):
        h = {"Content-Type": content_type,
             "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
             "Cookie": f"device_id={person['device']}"}
        if person.get("lang"):
            h["Accept-Language"] = person["lang"]
        if person.get("tz"):
            h["X-Client-Timezone"] = person["tz"]
        return h

    def coupon(self, when, kind, scenario, ip, person, code):
        self.emit(when, kind, scenario, ip, "POST", "/api/apply-coupon",
                  self.browser_headers(person, "application/json"), json.dumps({"code": code}))

    def signup(self, when, kind, scenario, ip, person, ref):
        path = "/signup" + (f"?ref={ref}" if ref else "")
        body = f"email=user{self.rnd.getrandbits(40):x}%40example.com"
        self.emit(when, kind, scenario, ip, "POST", path,
                  self.browser_headers(person, "application/x-www-form-urlencoded"), body)

    def person(self, country, expat=False):
        tzs, lang = LOCALES[country]
        p = {"country": country, "tz": self.rnd.choice(tzs), "lang": lang, "device": self.device()}
        if expat:
            other = self.rnd.choice([c for c in LOCALES if c != country])
            p["lang"] = LOCALES[other][1]
        if self.rnd.random() < 0.03:
            p["tz"] = None
        return p

    def friend_code(self):
        return f"FRIEND-{self.rnd.randrange(4000)}"

    def customer_visit(self, when, scenario, ip, person, home_ppp=True, office_ref=None):
        """A customer's visit: a signup or a coupon (retried now and then)."""
        r = self.rnd.random()
        if r < 0.45:
            ref = office_ref if office_ref and self.rnd.random() < 0.3 else (
                self.friend_code() if self.rnd.random() < 0.4 else None)
            self.signup(when, "customer", scenario, ip, person, ref)
            return
        ppp = PPP.get(person["country"])
        if home_ppp and ppp and self.rnd.random() < 0.5:
            code = ppp
        else:
            code = self.rnd.choice(["WELCOME10", "SAVE20", "SAVE20",
                                    f"BDAY-{self.rnd.getrandbits(24):06X}",
                                    f"GIFT-{self.rnd.getrandbits(24):06X}"])
        tries = 1 + (self.rnd.random() < 0.15) + (self.rnd.random() < 0.05)
        for k in range(tries):
            self.coupon(when + datetime.timedelta(seconds=20 * k), "customer", scenario, ip, person, code)

    # ---- customers -------------------------------------------------------------

    def home_customers(self, per_day):
        countries = list(HOME_WEIGHTS)
        weights = [HOME_WEIGHTS[c] for c in countries]
        for day in range(7):
            for _ in range(per_day):
                cc = self.rnd.choices(countries, weights)[0]
                ip, _ = self.space.in_asns(HOME_ISPS[cc], cc)
                p = self.person(cc, expat=self.rnd.random() < 0.05)
                scenario = "regional code at home" if cc in PPP else "home"
                when = self.at_local(day, p["tz"] or LOCALES[cc][0][0], self.daytime())
                self.customer_visit(when, scenario, ip, p)

    def mobile_customers(self, per_day):
        carriers = [(asn, cc) for asn, cc in mobile_carriers()
                    if cc in LOCALES and asn in self.space.by_asn]
        pools = {}
        for asn, cc in carriers:
            try:
                nets = [self.space.in_asns([asn], cc)[0] for _ in range(2)]
            except SystemExit:
                continue
            pools[(asn, cc)] = [n.rsplit(".", 1)[0] + f".{self.rnd.randrange(1, 255)}"
                                for n in nets for _ in range(4)]
        keys = list(pools)
        # the big markets' carriers carry the most people: weighted like home customers
        weights = [HOME_WEIGHTS.get(cc, 1) for _, cc in keys]
        for day in range(7):
            for _ in range(per_day):
                asn, cc = self.rnd.choices(keys, weights)[0]
                p = self.person(cc)
                lunch = self.rnd.random() < 0.5
                hour = self.rnd.uniform(12, 14) if lunch else self.daytime()
                when = self.at_local(day, p["tz"] or LOCALES[cc][0][0], hour)
                self.customer_visit(when, "mobile (CGNAT)", self.rnd.choice(pools[(asn, cc)]), p)

    def offices(self, per_weekday):
        for day in range(5):
            for _ in range(per_weekday):
                cc = self.rnd.choice(["US", "GB", "DE", "FR", "IN", "NL", "JP", "CA"])
                ip, _ = self.space.in_asns(HOME_ISPS[cc], cc)
                start = self.rnd.uniform(9, 15)
                office_ref = self.friend_code()
                for _ in range(self.rnd.randint(5, 25)):
                    p = self.person(cc)
                    when = self.at_local(day, p["tz"] or LOCALES[cc][0][0], start + self.rnd.uniform(0, 2))
                    self.customer_visit(when, "office behind one NAT", ip, p, office_ref=office_ref)

    def travellers(self, per_day):
        for day in range(7):
            for _ in range(per_day):
                home, abroad = self.rnd.sample(list(HOME_ISPS), 2)
                ip, _ = self.space.in_asns(HOME_ISPS[abroad], abroad)
                p = self.person(home)
                when = self.at_local(day, LOCALES[abroad][0][0], self.daytime())
                self.customer_visit(when, "traveller", ip, p)

    def vpn_customers(self, per_day):
        servers = vpn_servers()
        for day in range(7):
            for _ in range(per_day):
                cc = self.rnd.choices(list(HOME_WEIGHTS), list(HOME_WEIGHTS.values()))[0]
                p = self.person(cc)
                when = self.at_local(day, p["tz"] or LOCALES[cc][0][0], self.daytime())
                self.customer_visit(when, "privacy VPN", pick(self.rnd, servers), p)

    def relay_customers(self, per_day):
        nets = prefixes(ROOT / "tests/fixtures/feeds/icloud-private-relay.txt")
        for day in range(7):
            for _ in range(per_day):
                cc = self.rnd.choice(RELAY_COUNTRIES)
                p = self.person(cc)
                when = self.at_local(day, p["tz"] or LOCALES[cc][0][0], self.daytime())
                self.customer_visit(when, "Private Relay", pick(self.rnd, nets), p)

    # ---- attacks -----------------------------------------------------------------

    def proxy_rotation(self):
        p = {"country": "US", "tz": "America/New_York", "lang": "en-US,en;q=0.9", "device": self.device()}
        t0 = START + datetime.timedelta(days=1, hours=14)
        for i in range(400):
            ip, _ = self.space.in_asns(HOME_ISPS["IN"], "IN")
            self.coupon(t0 + datetime.timedelta(seconds=i * 54), "attack",
                        "residential-proxy rotation on PPP-IN-65", ip, p, "PPP-IN-65")

    def ppp_through_vpns(self):
        servers = vpn_servers()
        located = []
        for _ in range(3000):
            ip = pick(self.rnd, servers)
            c = self.space.country(ip)
            if c and c not in ("US", "GB", "DE"):
                located.append((ip, c))
        for k in range(30):
            home = ["US", "GB", "DE"][k % 3]
            p = self.person(home)
            p["tz"] = LOCALES[home][0][0]
            ip, c = self.rnd.choice(located)
            day = self.rnd.randrange(7)
            t0 = self.at_local(day, p["tz"], self.rnd.uniform(9, 22))
            for i in range(self.rnd.randint(5, 10)):
                self.coupon(t0 + datetime.timedelta(minutes=3 * i), "attack",
                            "PPP fraud through VPNs", ip, p, f"PPP-{c}-60")

    def sybil_residential(self):
        ip, _ = self.space.in_asns(HOME_ISPS["DE"], "DE")
        net = ip.rsplit(".", 1)[0]
        t0 = START + datetime.timedelta(days=2, hours=2)
        for i in range(300):
            p = self.person("DE")
            p["tz"] = "Europe/Berlin"
            self.signup(t0 + datetime.timedelta(seconds=i * 24), "attack",
                        "referral Sybil farm on one residential /24",
                        f"{net}.{self.rnd.randrange(1, 255)}", p, "FRIEND-SYB1")

    def sybil_datacenter(self):
        nets = prefixes(ROOT / "tests/fixtures/feeds/digitalocean-geofeed.csv")
        t0 = START + datetime.timedelta(days=3, hours=10)
        for i in range(300):
            p = self.person("US")
            p["tz"] = "America/New_York"
            self.signup(t0 + datetime.timedelta(seconds=i * 24), "attack",
                        "referral Sybil farm on a datacenter", pick(self.rnd, nets), p, "FRIEND-SYB2")

    def click_farm(self):
        mobile = {}
        for asn, cc in mobile_carriers():
            mobile.setdefault(cc, []).append(asn)
        countries = [c for c in LOCALES if c in HOME_ISPS or c in mobile]
        countries = self.rnd.sample(countries, min(40, len(countries)))
        t0 = START + datetime.timedelta(days=4, hours=6)
        for i in range(150):
            cc = countries[i % len(countries)]
            asns = HOME_ISPS.get(cc) or mobile[cc]
            try:
                ip, _ = self.space.in_asns(asns, cc)
            except SystemExit:
                ip, _ = self.space.in_asns(mobile.get(cc, asns), cc)
            p = self.person(cc)
            p["tz"] = LOCALES[cc][0][0]
            self.signup(t0 + datetime.timedelta(minutes=i * 19), "attack",
                        "click farm spreading one referral code", ip, p, "FRIEND-CLICK")

    def scripts(self):
        tor = [l.split()[1] for l in (ROOT / "data/tor-exit-addresses.txt").read_text().splitlines()
               if l.startswith("ExitAddress ")]
        tor = [t for t in tor if ":" not in t]
        cloud = prefixes(ROOT / "tests/fixtures/feeds/digitalocean-geofeed.csv")
        aws = json.loads((ROOT / "tests/fixtures/feeds/aws-ip-ranges.json").read_text())
        # scripts run on rented machines: EC2's ranges, not AWS's own service ranges
        cloud += [ipaddress.ip_network(p["ip_prefix"]) for p in aws["prefixes"] if p["service"] == "EC2"]
        for day in range(7):
            for i in range(200):
                ip = self.rnd.choice(tor) if i % 2 else pick(self.rnd, cloud)
                when = START + datetime.timedelta(days=day, hours=self.rnd.uniform(0, 6))
                code = f"{self.rnd.choice(['SAVE', 'PPP-IN-', 'GIFT-', 'VIP'])}{self.rnd.randrange(10**6)}"
                h = {"Content-Type": "application/json", "User-Agent": "python-requests/2.32.3"}
                scenario = "scripts from Tor exits" if i % 2 else "scripts from cloud ranges"
                self.emit(when, "attack", scenario, ip, "POST", "/api/apply-coupon", h,
                          json.dumps({"code": code}))

    def shared_single_use_code(self):
        countries = list(HOME_WEIGHTS)
        for i in range(80):
            cc = self.rnd.choices(countries, [HOME_WEIGHTS[c] for c in countries])[0]
            ip, _ = self.space.in_asns(HOME_ISPS[cc], cc)
            p = self.person(cc)
            when = START + datetime.timedelta(days=5, hours=18, minutes=self.rnd.uniform(0, 240))
            self.coupon(when, "attack", "single-use code shared publicly", ip, p, "GIFT-8K2Q9")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--asn-csv", type=Path, required=True)
    ap.add_argument("--country", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--scale", type=float, default=1.0, help="customers per day × this")
    a = ap.parse_args()
    check_locales()
    rnd = random.Random(a.seed)
    w = Week(Space(a.asn_csv, a.country, rnd), rnd)
    s = a.scale
    w.home_customers(int(1800 * s))
    w.mobile_customers(int(700 * s))
    w.offices(max(1, int(6 * s)))
    w.travellers(int(100 * s))
    w.vpn_customers(int(50 * s))
    w.relay_customers(int(150 * s))
    w.proxy_rotation()
    w.ppp_through_vpns()
    w.sybil_residential()
    w.sybil_datacenter()
    w.click_farm()
    w.scripts()
    w.shared_single_use_code()
    w.out.sort(key=lambda r: r[0])
    out = sys.stdout
    for _, rec in w.out:
        out.write(json.dumps(rec) + "\n")
    print(f"{len(w.out)} requests, seed {a.seed}", file=sys.stderr)


if __name__ == "__main__":
    main()
