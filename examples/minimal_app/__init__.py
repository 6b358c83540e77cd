"""The smallest Flask app with Impersonator's tenant side: README.md here."""
