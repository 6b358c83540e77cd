"""The console face: staff sign-in and the pages staff use (DESIGN §2)."""
