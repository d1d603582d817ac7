"""The expert-annotation web app (issue 8): article sets, assignments, labels with highlights, and the admin view."""
