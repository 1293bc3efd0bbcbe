"""Step 2: fit y = a*x + b by least squares."""

import csv
import json
import sys

epochs = int(next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--epochs=")), "1"))
with open("data/clean.csv") as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
n = len(rows)
mx = sum(x for x, _ in rows) / n
my = sum(y for _, y in rows) / n
a = sum((x - mx) * (y - my) for x, y in rows) / sum((x - mx) ** 2 for x, _ in rows)
b = my - a * mx
with open("models/model.json", "w") as fh:
    json.dump({"a": a, "b": b, "epochs": epochs}, fh)
print(f"trained: y = {a:.3f} x + {b:.3f}")
