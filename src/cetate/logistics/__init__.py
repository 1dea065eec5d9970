"""Green city logistics: delivery planning, fleets, emissions, and VRPLIB benchmarks."""
