"""Static facts the demo draws from: countries, names, devices, pages, features."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    weight: int  # relative share of demo users
    locales: tuple[str, ...]
    timezones: tuple[str, ...]
    cities: tuple[tuple[str, str, float, float], ...]  # (city, region, latitude, longitude)
    currency: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        24,
        ("en-US", "es-US"),
        ("America/New_York", "America/Chicago", "America/Los_Angeles"),
        (
            ("New York", "NY", 40.7128, -74.0060),
            ("Chicago", "IL", 41.8781, -87.6298),
            ("San Francisco", "CA", 37.7749, -122.4194),
            ("Austin", "TX", 30.2672, -97.7431),
        ),
        "USD",
        ("Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Harper", "Mason"),
        ("Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Lopez"),
    ),
    Country(
        "DE",
        16,
        ("de-DE",),
        ("Europe/Berlin",),
        (
            ("Berlin", "BE", 52.5200, 13.4050),
            ("Munich", "BY", 48.1351, 11.5820),
            ("Hamburg", "HH", 53.5511, 9.9937),
            ("Cologne", "NW", 50.9375, 6.9603),
        ),
        "EUR",
        ("Lena", "Jonas", "Mia", "Leon", "Hannah", "Finn", "Lea", "Paul", "Marie", "Felix"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
    ),
    Country(
        "IR",
        16,
        ("fa-IR",),
        ("Asia/Tehran",),
        (
            ("Tehran", "Tehran", 35.6892, 51.3890),
            ("Isfahan", "Isfahan", 32.6546, 51.6680),
            ("Shiraz", "Fars", 29.5918, 52.5837),
            ("Tabriz", "East Azerbaijan", 38.0962, 46.2738),
        ),
        "IRR",
        ("Sara", "Ali", "Maryam", "Reza", "Zahra", "Amir", "Fatemeh", "Hossein", "Neda", "Arash"),
        ("Ahmadi", "Hosseini", "Karimi", "Rezaei", "Moradi", "Mohammadi", "Jafari", "Rahimi"),
    ),
    Country(
        "BR",
        14,
        ("pt-BR",),
        ("America/Sao_Paulo",),
        (
            ("São Paulo", "SP", -23.5505, -46.6333),
            ("Rio de Janeiro", "RJ", -22.9068, -43.1729),
            ("Belo Horizonte", "MG", -19.9167, -43.9345),
            ("Recife", "PE", -8.0476, -34.8770),
        ),
        "BRL",
        ("Ana", "João", "Beatriz", "Pedro", "Júlia", "Gabriel", "Larissa", "Rafael", "Camila"),
        ("Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Ferreira"),
    ),
    Country(
        "IN",
        18,
        ("en-IN", "hi-IN"),
        ("Asia/Kolkata",),
        (
            ("Bengaluru", "KA", 12.9716, 77.5946),
            ("Mumbai", "MH", 19.0760, 72.8777),
            ("Delhi", "DL", 28.7041, 77.1025),
            ("Hyderabad", "TG", 17.3850, 78.4867),
        ),
        "INR",
        ("Aarav", "Ananya", "Vihaan", "Diya", "Arjun", "Isha", "Rohan", "Priya", "Kabir"),
        ("Sharma", "Patel", "Reddy", "Iyer", "Gupta", "Singh", "Nair", "Das"),
    ),
    Country(
        "GB",
        6,
        ("en-GB",),
        ("Europe/London",),
        (("London", "ENG", 51.5074, -0.1278), ("Manchester", "ENG", 53.4808, -2.2426)),
        "GBP",
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Grace"),
        ("Taylor", "Jones", "Evans", "Wilson", "Thomas", "Roberts"),
    ),
    Country(
        "JP",
        6,
        ("ja-JP",),
        ("Asia/Tokyo",),
        (("Tokyo", "Tokyo", 35.6762, 139.6503), ("Osaka", "Osaka", 34.6937, 135.5023)),
        "JPY",
        ("Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Sakura"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"),
    ),
)


@dataclass(frozen=True)
class DeviceKind:
    platform: str
    weight: int
    manufacturer: str
    models: tuple[str, ...]
    os_name: str
    os_versions: tuple[str, ...]
    push: str | None  # push provider this kind registers with, if any
    screens: tuple[tuple[int, int], ...]


DEVICE_KINDS: tuple[DeviceKind, ...] = (
    DeviceKind(
        "ios",
        26,
        "Apple",
        ("iPhone15,2", "iPhone15,4", "iPhone16,1", "iPhone14,5", "iPad13,18"),
        "iOS",
        ("17.5.1", "17.6", "18.0", "18.1", "16.7.8"),
        "apns",
        ((1179, 2556), (1170, 2532), (1290, 2796), (1640, 2360)),
    ),
    DeviceKind(
        "android",
        30,
        "Samsung",
        ("SM-S918B", "SM-A546B", "SM-G991B", "Pixel 8", "Pixel 7a", "Redmi Note 13"),
        "Android",
        ("12", "13", "14", "15"),
        "fcm",
        ((1080, 2340), (1440, 3088), (1080, 2400)),
    ),
    DeviceKind(
        "web",
        32,
        "",
        ("Chrome 131", "Safari 18.1", "Firefox 133", "Edge 131"),
        "Web",
        ("macOS 14.6", "Windows 11", "Ubuntu 24.04", "ChromeOS 129"),
        "webpush",
        ((1440, 900), (1920, 1080), (2560, 1440), (1366, 768)),
    ),
    DeviceKind(
        "desktop",
        12,
        "",
        ("MacBookPro18,3", "Mac14,2", "Dell XPS 13 9340", "ThinkPad X1 Carbon Gen 11"),
        "Desktop",
        ("macOS 14.6", "macOS 15.1", "Windows 11 23H2", "Windows 10 22H2"),
        None,
        ((2560, 1600), (1920, 1200), (2880, 1800)),
    ),
)

APP_VERSIONS = ("3.8.2", "3.9.0", "3.9.1", "4.0.0")
SDK_VERSION = "0.1.0"

PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Home"),
    ("/dashboard", "Dashboard"),
    ("/projects", "Projects"),
    ("/projects/new", "New project"),
    ("/reports", "Reports"),
    ("/settings", "Settings"),
    ("/pricing", "Pricing"),
    ("/help", "Help center"),
)
SCREENS = ("Home", "Projects", "ProjectDetail", "Reports", "Settings", "Inbox", "Paywall")
FEATURES = ("export_csv", "share_link", "dark_mode", "templates", "automations", "comments")
PRODUCTS: tuple[tuple[str, float], ...] = (
    ("pro_monthly", 12.0),
    ("pro_yearly", 120.0),
    ("extra_seats_5", 25.0),
    ("template_pack", 9.0),
    ("storage_100gb", 4.0),
)
# A rough conversion of the USD list price into each country's currency.
FX = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "BRL": 5.0, "INR": 83.0, "IRR": 42000.0, "JPY": 150.0}
PLANS = ("free", "trial", "pro")
REFERRERS = ("google", "newsletter", "twitter", "direct", "partner", "producthunt")
