"""The tenant app's own features for customers: sign-in, account, projects, analytics, notifications."""
