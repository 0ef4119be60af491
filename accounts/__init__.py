"""Who is signed in: login and logout, password change, the login lockout,
the second factor (django-otp: an authenticator app plus single-use backup
codes), the idle timeout, the global roles (Django groups), and API tokens
(``tokens``)."""
