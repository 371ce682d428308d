"""Built-in data for the demo seed: names, streets and real US area codes by state.

Area codes are real NANP NPAs so ``phonenumbers`` assigns each generated number the time zone of
its state (checked by ``tests/integration/test_seed.py``). ``weight`` spreads the 50,000 demo
leads roughly like the US population over the Eastern/Central/Mountain/Pacific zones; 907
(Alaska) is included on purpose: phonenumbers gives it two candidate zones (America/Anchorage
and America/Adak), which exercises ``leads.tz_candidates``.
"""

from __future__ import annotations

from typing import NamedTuple


class AreaCode(NamedTuple):
    npa: str
    state: str
    city: str
    zip_prefix: str
    weight: int


AREA_CODES: tuple[AreaCode, ...] = (
    # Eastern
    AreaCode("212", "NY", "New York", "100", 6),
    AreaCode("718", "NY", "Brooklyn", "112", 5),
    AreaCode("516", "NY", "Hempstead", "115", 2),
    AreaCode("201", "NJ", "Jersey City", "073", 2),
    AreaCode("973", "NJ", "Newark", "071", 2),
    AreaCode("215", "PA", "Philadelphia", "191", 3),
    AreaCode("412", "PA", "Pittsburgh", "152", 2),
    AreaCode("617", "MA", "Boston", "021", 3),
    AreaCode("404", "GA", "Atlanta", "303", 3),
    AreaCode("305", "FL", "Miami", "331", 3),
    AreaCode("407", "FL", "Orlando", "328", 2),
    AreaCode("813", "FL", "Tampa", "336", 2),
    AreaCode("704", "NC", "Charlotte", "282", 2),
    AreaCode("216", "OH", "Cleveland", "441", 2),
    AreaCode("614", "OH", "Columbus", "432", 2),
    AreaCode("313", "MI", "Detroit", "482", 2),
    AreaCode("804", "VA", "Richmond", "232", 1),
    AreaCode("317", "IN", "Indianapolis", "462", 1),
    AreaCode("502", "KY", "Louisville", "402", 1),
    # Central
    AreaCode("312", "IL", "Chicago", "606", 3),
    AreaCode("773", "IL", "Chicago", "606", 2),
    AreaCode("214", "TX", "Dallas", "752", 3),
    AreaCode("713", "TX", "Houston", "770", 3),
    AreaCode("512", "TX", "Austin", "787", 2),
    AreaCode("210", "TX", "San Antonio", "782", 2),
    AreaCode("612", "MN", "Minneapolis", "554", 2),
    AreaCode("314", "MO", "St. Louis", "631", 2),
    AreaCode("615", "TN", "Nashville", "372", 2),
    AreaCode("414", "WI", "Milwaukee", "532", 1),
    AreaCode("504", "LA", "New Orleans", "701", 1),
    AreaCode("405", "OK", "Oklahoma City", "731", 1),
    # Mountain (602/520: Arizona, no daylight saving time)
    AreaCode("303", "CO", "Denver", "802", 2),
    AreaCode("719", "CO", "Colorado Springs", "809", 1),
    AreaCode("602", "AZ", "Phoenix", "850", 2),
    AreaCode("520", "AZ", "Tucson", "857", 1),
    AreaCode("801", "UT", "Salt Lake City", "841", 1),
    AreaCode("505", "NM", "Albuquerque", "871", 1),
    AreaCode("208", "ID", "Boise", "837", 1),
    # Pacific
    AreaCode("213", "CA", "Los Angeles", "900", 4),
    AreaCode("415", "CA", "San Francisco", "941", 2),
    AreaCode("619", "CA", "San Diego", "921", 2),
    AreaCode("916", "CA", "Sacramento", "958", 1),
    AreaCode("206", "WA", "Seattle", "981", 2),
    AreaCode("509", "WA", "Spokane", "992", 1),
    AreaCode("503", "OR", "Portland", "972", 1),
    AreaCode("702", "NV", "Las Vegas", "891", 1),
    # Alaska (two candidate zones) and Hawaii
    AreaCode("907", "AK", "Anchorage", "995", 1),
    AreaCode("808", "HI", "Honolulu", "968", 1),
    # Beyond the 50 states, so the demo has leads inside their 08:00-21:00 window at almost every
    # UTC hour (no US zone is open 07:00-13:00 UTC): Guam/Saipan (UTC+10), Newfoundland, Puerto Rico.
    AreaCode("671", "GU", "Hagatna", "969", 3),
    AreaCode("670", "MP", "Saipan", "969", 2),
    AreaCode("709", "NL", "St. John's", "A1A", 1),
    AreaCode("787", "PR", "San Juan", "009", 1),
)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra",
    "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Dorothy", "George", "Melissa", "Timothy", "Deborah",
    "Ronald", "Stephanie", "Edward", "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia",
    "Jacob", "Kathleen", "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna",
    "Stephen", "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander", "Debra", "Frank",
    "Rachel", "Patrick", "Carolyn", "Raymond", "Janet", "Jack", "Catherine", "Dennis", "Maria", "Jerry",
    "Heather", "Carlos", "Sofia", "Luis", "Camila", "Miguel", "Valentina", "Wei", "Mei", "Hiroshi", "Yuki",
    "Raj", "Priya", "Ahmed", "Fatima", "Olumide", "Chiamaka", "Dmitri", "Olga", "Sean", "Siobhan",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "O'Brien", "Chen", "Wang", "Singh", "Okafor", "Kowalski", "Ivanova", "Tanaka", "Murray", "Fitzgerald",
)

STREET_NAMES: tuple[str, ...] = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Walnut",
    "Sunset", "Lincoln", "Jackson", "Church", "Highland", "Franklin", "Chestnut", "Willow", "River",
)
STREET_SUFFIXES: tuple[str, ...] = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way", "Pl")
