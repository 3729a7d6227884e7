"""ALFRED's receptacle and object classes, their property tables, and the room templates worlds are built from.

Class names are ALFRED's (CamelCase); ALFWorld shows them lowercased, which is how every table here is keyed.
"""

from __future__ import annotations

# -- ALFRED classes (CamelCase as in ALFRED; ALFWorld shows them lowercased) ---------------------------------
RECEPTACLE_CLASSES = (
    "ArmChair", "BathtubBasin", "Bed", "Cabinet", "CoffeeMachine", "CoffeeTable", "CounterTop", "Desk",
    "DiningTable", "Drawer", "Dresser", "Fridge", "GarbageCan", "HandTowelHolder", "LaundryHamper",
    "Microwave", "Ottoman", "Safe", "Shelf", "SideTable", "SinkBasin", "Sofa", "StoveBurner", "Toaster",
    "Toilet", "ToiletPaperHanger", "TowelHolder", "TVStand",
)  # fmt: skip
OBJECT_CLASSES = (
    "AlarmClock", "Apple", "Book", "Bowl", "Box", "Bread", "ButterKnife", "Candle", "CD", "CellPhone",
    "Cloth", "CreditCard", "Cup", "DeskLamp", "DishSponge", "Egg", "FloorLamp", "Fork", "HandTowel",
    "Kettle", "KeyChain", "Knife", "Ladle", "Laptop", "Lettuce", "Mug", "Newspaper", "Pan", "Pen", "Pencil",
    "PepperShaker", "Pillow", "Plate", "Plunger", "Pot", "Potato", "RemoteControl", "SaltShaker",
    "SoapBar", "SoapBottle", "Spatula", "Spoon", "SprayBottle", "Statue", "TissueBox", "ToiletPaper",
    "Tomato", "Towel", "Vase", "Watch", "WineBottle",
)  # fmt: skip
ALFRED_NAMES = {name.lower(): name for name in RECEPTACLE_CLASSES + OBJECT_CLASSES}


def _words(text: str) -> tuple[str, ...]:
    """Space-separated class names as a tuple: keeps the long tables below readable."""
    return tuple(text.split())


OPENABLE = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})
CLEANABLE = frozenset(
    _words(
        "apple bowl butterknife cloth cup dishsponge egg fork kettle knife ladle lettuce mug pan plate pot "
        "potato soapbar spatula spoon tomato"
    )
)
HEATABLE = frozenset(_words("apple bread cup egg mug plate potato tomato"))
COOLABLE = frozenset(_words("apple bowl bread cup egg lettuce mug pan plate pot potato tomato winebottle"))
LAMPS = ("desklamp", "floorlamp")  # the toggleables; not pickupable, they sit on a lamp holder
LAMP_HOLDERS = frozenset({"coffeetable", "desk", "dresser", "sidetable"})

# ALFRED's movable receptacles: alfworld marks them isReceptacleObject, which changes how `examine` reads
RECEPTACLE_OBJECTS = frozenset({"bowl", "box", "cup", "mug", "pan", "plate", "pot"})

# canContain: object class -> the receptacle classes that may hold it (where it starts and where `move` works).
# ALFRED's VAL_RECEPTACLE_OBJECTS inverted and restricted to these classes, so the real engine agrees.
_PLACES = {
    "alarmclock": "coffeetable countertop desk diningtable dresser shelf sidetable",
    "apple": "coffeetable countertop diningtable fridge garbagecan microwave sidetable sinkbasin",
    "book": "armchair bed cabinet coffeetable countertop desk diningtable drawer dresser ottoman shelf sidetable sofa",
    "bowl": "cabinet coffeetable countertop desk diningtable dresser fridge microwave shelf sidetable sinkbasin",
    "box": "armchair cabinet coffeetable countertop desk diningtable dresser ottoman shelf sidetable sofa",
    "bread": "coffeetable countertop diningtable fridge garbagecan microwave sidetable",
    "butterknife": "coffeetable countertop diningtable drawer sidetable sinkbasin",
    "candle": "cabinet coffeetable countertop desk diningtable drawer dresser shelf sidetable toilet",
    "cd": "cabinet coffeetable countertop desk diningtable drawer dresser garbagecan safe shelf sidetable",
    "cellphone": "armchair bed coffeetable countertop desk diningtable drawer dresser ottoman safe shelf sidetable sofa",
    "cloth": "armchair bathtubbasin cabinet coffeetable countertop desk diningtable drawer dresser garbagecan laundryhamper ottoman shelf sidetable sinkbasin sofa toilet",
    "creditcard": "armchair coffeetable countertop desk diningtable drawer dresser ottoman safe shelf sidetable sofa",
    "cup": "cabinet coffeetable countertop desk diningtable dresser fridge microwave shelf sidetable sinkbasin",
    "dishsponge": "bathtubbasin cabinet coffeetable countertop diningtable drawer garbagecan shelf sidetable sinkbasin toilet",
    "egg": "coffeetable countertop diningtable fridge garbagecan microwave sidetable sinkbasin",
    "fork": "coffeetable countertop diningtable drawer sidetable sinkbasin",
    "handtowel": "bathtubbasin cabinet coffeetable countertop diningtable drawer garbagecan handtowelholder shelf sidetable sinkbasin toilet",
    "kettle": "cabinet coffeetable countertop diningtable shelf sidetable sinkbasin stoveburner",
    "keychain": "armchair coffeetable countertop desk diningtable drawer dresser ottoman safe shelf sidetable sofa",
    "knife": "coffeetable countertop diningtable drawer sidetable sinkbasin",
    "ladle": "cabinet coffeetable countertop diningtable drawer sidetable sinkbasin",
    "laptop": "armchair bed coffeetable countertop desk diningtable dresser ottoman sidetable sofa",
    "lettuce": "coffeetable countertop diningtable fridge garbagecan sidetable sinkbasin",
    "mug": "cabinet coffeemachine coffeetable countertop desk diningtable dresser fridge microwave shelf sidetable sinkbasin",
    "newspaper": "armchair bed cabinet coffeetable countertop desk diningtable drawer dresser garbagecan ottoman shelf sidetable sofa toilet",
    "pan": "cabinet coffeetable countertop diningtable fridge sidetable sinkbasin stoveburner",
    "pen": "coffeetable countertop desk diningtable drawer dresser garbagecan shelf sidetable",
    "pencil": "coffeetable countertop desk diningtable drawer dresser garbagecan shelf sidetable",
    "peppershaker": "cabinet coffeetable countertop diningtable drawer shelf sidetable",
    "pillow": "armchair bed ottoman sofa",
    "plate": "cabinet coffeetable countertop desk diningtable dresser fridge microwave shelf sidetable sinkbasin",
    "plunger": "cabinet",
    "pot": "cabinet coffeetable countertop diningtable fridge shelf sidetable sinkbasin stoveburner",
    "potato": "coffeetable countertop diningtable fridge garbagecan microwave sidetable sinkbasin",
    "remotecontrol": "armchair coffeetable countertop desk diningtable drawer dresser ottoman shelf sidetable sofa",
    "saltshaker": "cabinet coffeetable countertop diningtable drawer shelf sidetable",
    "soapbar": "bathtubbasin cabinet coffeetable countertop diningtable drawer garbagecan shelf sidetable sinkbasin toilet",
    "soapbottle": "cabinet coffeetable countertop desk diningtable drawer garbagecan shelf sidetable toilet",
    "spatula": "coffeetable countertop diningtable drawer sidetable sinkbasin",
    "spoon": "coffeetable countertop diningtable drawer sidetable sinkbasin",
    "spraybottle": "cabinet coffeetable countertop desk diningtable drawer dresser garbagecan shelf sidetable toilet",
    "statue": "coffeetable countertop desk diningtable dresser safe shelf sidetable",
    "tissuebox": "cabinet coffeetable countertop desk diningtable drawer dresser garbagecan shelf sidetable toilet tvstand",
    "toiletpaper": "cabinet coffeetable countertop desk diningtable drawer dresser garbagecan shelf sidetable toilet toiletpaperhanger",
    "tomato": "coffeetable countertop diningtable fridge garbagecan microwave sidetable sinkbasin",
    "towel": "towelholder",
    "vase": "cabinet coffeetable countertop desk diningtable dresser safe shelf sidetable",
    "watch": "coffeetable countertop desk diningtable drawer dresser safe shelf sidetable",
    "winebottle": "cabinet coffeetable countertop desk diningtable dresser fridge garbagecan shelf sidetable",
}
CAN_CONTAIN = {obj: frozenset(_words(places)) for obj, places in _PLACES.items()}

# -- rooms: receptacle classes with (min, max) counts, and the object classes that appear there ------------
ROOM_RECEPTACLES = {
    "kitchen": {"cabinet": (4, 10), "coffeemachine": (1, 1), "countertop": (1, 3), "diningtable": (0, 1),
                "drawer": (2, 6), "fridge": (1, 1), "garbagecan": (1, 1), "microwave": (1, 1),
                "shelf": (0, 3), "sinkbasin": (1, 1), "stoveburner": (2, 4), "toaster": (1, 1)},
    "livingroom": {"armchair": (0, 2), "cabinet": (0, 4), "coffeetable": (1, 2), "diningtable": (0, 1),
                   "drawer": (0, 4), "dresser": (0, 1), "garbagecan": (1, 1), "ottoman": (0, 1),
                   "shelf": (0, 4), "sidetable": (1, 3), "sofa": (1, 1), "tvstand": (0, 1)},
    "bedroom": {"armchair": (0, 1), "bed": (1, 1), "desk": (0, 2), "drawer": (2, 6), "dresser": (0, 1),
                "garbagecan": (1, 1), "laundryhamper": (0, 1), "safe": (0, 1), "shelf": (0, 5),
                "sidetable": (1, 2)},
    "bathroom": {"bathtubbasin": (0, 1), "cabinet": (1, 4), "countertop": (1, 1), "drawer": (0, 4),
                 "garbagecan": (1, 1), "handtowelholder": (0, 2), "shelf": (0, 2), "sinkbasin": (1, 2),
                 "toilet": (1, 1), "toiletpaperhanger": (1, 1), "towelholder": (0, 2)},
}  # fmt: skip
ROOM_OBJECTS = {
    "kitchen": _words(
        "apple bowl bread butterknife cup dishsponge egg fork kettle knife ladle lettuce mug pan "
        "peppershaker plate pot potato saltshaker soapbottle spatula spoon tomato winebottle"
    ),
    "livingroom": _words(
        "box creditcard keychain laptop newspaper pillow remotecontrol statue tissuebox vase watch"
    ),
    "bedroom": _words(
        "alarmclock book bowl cd cellphone cloth creditcard keychain laptop mug pen pencil pillow"
    ),
    "bathroom": _words(
        "candle cloth dishsponge handtowel plunger soapbar soapbottle spraybottle tissuebox toiletpaper towel"
    ),
}
ROOM_LAMPS = {"bedroom": ("desklamp",), "livingroom": ("desklamp", "floorlamp")}
FLOORPLAN_OFFSETS = {"kitchen": 0, "livingroom": 200, "bedroom": 300, "bathroom": 400}  # ALFRED numbering
FLOORPLANS_PER_ROOM = 30
