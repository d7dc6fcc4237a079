"""Read models: the data of each page and of its JSON twin, read from the database and the
result files (trains, train results, submission, analyses, datasets, the dashboard and its
stored days, the My Analyses cache). Imports core, db, settings and analysis; nothing below
imports it (the scheduler is given ``dashboard.warm`` by the command that builds it)."""
