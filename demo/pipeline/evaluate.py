"""Step 3: score the model on the cleaned data."""

import csv
import json

with open("models/model.json") as fh:
    model = json.load(fh)
with open("data/clean.csv") as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
mse = sum((model["a"] * x + model["b"] - y) ** 2 for x, y in rows) / len(rows)
with open("metrics.json", "w") as fh:
    json.dump({"mse": mse, "n": len(rows)}, fh, indent=2)
print(f"mse = {mse:.3f}")
