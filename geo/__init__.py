"""Geography: distances, departure zones, routes and convoys."""
