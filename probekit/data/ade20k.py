"""ADE20K (SceneParsing / ADEChallengeData2016): 150 classes, read from the release as unpacked.

Layout (datasets/ade20k/README.md): `images/{training,validation}/*.jpg` and
`annotations/{training,validation}/*.png`, single-channel labels 0..150 where 0 = "other".
The stored mask already has mmseg's `reduce_zero_label` applied: 0 -> 255 (ignored), k -> k - 1, so it
holds 0..149 and 255 like VOC and Cityscapes, and the probe runs without `--reduce-zero-label`
(passing it would shift the classes a second time). The mask attrs say so (`zero_label_reduced`).
"""

from __future__ import annotations

from pathlib import Path

from probekit.data.label_maps import IGNORE_INDEX, LabelledImage, LabelMapDataset, LabelTable
from probekit.data.layout import missing_paths, raise_missing, require_root
from probekit.data.registry import DatasetEntry, register_dataset

README = "datasets/ade20k/README.md"
SPLIT_DIRS = {"train": "training", "val": "validation"}

# objectInfo150 (CSAILVision/sceneparsing), column Name, in label order 1..150; the first synonym is the
# class name (as mmsegmentation's ADE20KDataset).
OBJECT_INFO_150 = """\
wall
building, edifice
sky
floor, flooring
tree
ceiling
road, route
bed
windowpane, window
grass
cabinet
sidewalk, pavement
person, individual, someone, somebody, mortal, soul
earth, ground
door, double door
table
mountain, mount
plant, flora, plant life
curtain, drape, drapery, mantle, pall
chair
car, auto, automobile, machine, motorcar
water
painting, picture
sofa, couch, lounge
shelf
house
sea
mirror
rug, carpet, carpeting
field
armchair
seat
fence, fencing
desk
rock, stone
wardrobe, closet, press
lamp
bathtub, bathing tub, bath, tub
railing, rail
cushion
base, pedestal, stand
box
column, pillar
signboard, sign
chest of drawers, chest, bureau, dresser
counter
sand
sink
skyscraper
fireplace, hearth, open fireplace
refrigerator, icebox
grandstand, covered stand
path
stairs, steps
runway
case, display case, showcase, vitrine
pool table, billiard table, snooker table
pillow
screen door, screen
stairway, staircase
river
bridge, span
bookcase
blind, screen
coffee table, cocktail table
toilet, can, commode, crapper, pot, potty, stool, throne
flower
book
hill
bench
countertop
stove, kitchen stove, range, kitchen range, cooking stove
palm, palm tree
kitchen island
computer, computing machine, computing device, data processor, electronic computer, information processing system
swivel chair
boat
bar
arcade machine
hovel, hut, hutch, shack, shanty
bus, autobus, coach, charabanc, double-decker, jitney, motorbus, motorcoach, omnibus, passenger vehicle
towel
light, light source
truck, motortruck
tower
chandelier, pendant, pendent
awning, sunshade, sunblind
streetlight, street lamp
booth, cubicle, stall, kiosk
television, television receiver, television set, tv, tv set, idiot box, boob tube, telly, goggle box
airplane, aeroplane, plane
dirt track
apparel, wearing apparel, dress, clothes
pole
land, ground, soil
bannister, banister, balustrade, balusters, handrail
escalator, moving staircase, moving stairway
ottoman, pouf, pouffe, puff, hassock
bottle
buffet, counter, sideboard
poster, posting, placard, notice, bill, card
stage
van
ship
fountain
conveyer belt, conveyor belt, conveyer, conveyor, transporter
canopy
washer, automatic washer, washing machine
plaything, toy
swimming pool, swimming bath, natatorium
stool
barrel, cask
basket, handbasket
waterfall, falls
tent, collapsible shelter
bag
minibike, motorbike
cradle
oven
ball
food, solid food
step, stair
tank, storage tank
trade name, brand name, brand, marque
microwave, microwave oven
pot, flowerpot
animal, animate being, beast, brute, creature, fauna
bicycle, bike, wheel, cycle
lake
dishwasher, dish washer, dishwashing machine
screen, silver screen, projection screen
blanket, cover
sculpture
hood, exhaust hood
sconce
vase
traffic light, traffic signal, stoplight
tray
ashcan, trash can, garbage can, wastebin, ash bin, ash-bin, ashbin, dustbin, trash barrel, trash bin
fan
pier, wharf, wharfage, dock
crt screen
plate
monitor, monitoring device
bulletin board, notice board
shower
radiator
glass, drinking glass
clock
flag
"""
CLASS_NAMES = tuple(line.split(",")[0].strip() for line in OBJECT_INFO_150.splitlines())

# mmseg reduce_zero_label: 0 ("other") -> ignored, k -> k - 1
REDUCE_ZERO_LABEL = LabelTable.from_mapping(
    {0: IGNORE_INDEX, **{k: k - 1 for k in range(1, len(CLASS_NAMES) + 1)}},
    source="ADEChallengeData2016 annotations 0..150, reduce_zero_label applied",
    expected="0..150",
)
MASK_ATTRS = {
    "num_classes": len(CLASS_NAMES),
    "class_names": list(CLASS_NAMES),
    "ignore_index": IGNORE_INDEX,
    "zero_label_reduced": True,  # raw 0 -> 255, raw k -> k - 1 already done: do not pass --reduce-zero-label
    "label_convention": "ADE20K raw k (1..150) stored as k - 1; raw 0 'other' stored as 255 (ignored)",
}


def resolve_root(root: Path) -> Path:
    """The ADEChallengeData2016 folder: `root` itself or `root/ADEChallengeData2016`."""
    nested = root / "ADEChallengeData2016"
    return nested if not (root / "images").is_dir() and nested.is_dir() else root


def scan(root: Path, split: str) -> tuple[list[LabelledImage], list[str]]:
    """The split's samples in file-name order, and the paths (relative to root) that are missing."""
    folder = SPLIT_DIRS[split]
    missing = missing_paths(root, [f"images/{folder}", f"annotations/{folder}"])
    if missing:
        return [], missing
    labels = {path.name for path in (root / "annotations" / folder).glob("*.png")}
    items, missing = [], []
    for image in sorted((root / "images" / folder).glob("*.jpg")):
        label = f"{image.stem}.png"
        if label in labels:
            items.append(LabelledImage(image.stem, image, root / "annotations" / folder / label))
        else:
            missing.append(f"annotations/{folder}/{label}")
    if not items and not missing:
        missing.append(f"images/{folder}/*.jpg")
    return items, missing


def check_layout(root: Path) -> list[str]:
    """Missing paths (relative to the ADEChallengeData2016 folder) over both splits; [] when complete."""
    root = resolve_root(Path(root))
    return [path for split in SPLIT_DIRS for path in scan(root, split)[1]]


class ADE20K(LabelMapDataset):
    """One split of ADEChallengeData2016; masks hold 0..149 and 255 (reduce_zero_label applied)."""

    def __init__(self, split: str, root: str | Path | None, image_size: tuple[int, int], fit: str | None = None):
        path = resolve_root(require_root(root, "ade20k", README))
        items, missing = scan(path, split)
        raise_missing(path, missing, "ade20k", README)
        super().__init__("ade20k", split, path, items, image_size, {"default": REDUCE_ZERO_LABEL}, MASK_ATTRS, fit)


register_dataset(
    "ade20k",
    DatasetEntry(
        factory=ADE20K,
        description="ADE20K SceneParsing (ADEChallengeData2016): 150 classes, 0 'other' ignored",
        tasks=("segmentation",),
        splits=tuple(SPLIT_DIRS),
        readme=README,
        check_layout=check_layout,
    ),
)
