"""A site's actors as plain classes (a unit test builds them directly); ``vcc.actors.remote`` turns
them into Ray actors with their options."""
