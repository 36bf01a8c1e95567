"""Running the centre: statistics, charts, day close, backup, personal-data purges, metrics."""
