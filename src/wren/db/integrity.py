"""What a violated constraint means to the client.

Writes check what they can in their own statements; a foreign key still fails when a
row is deleted between that check and the commit (a post deleted while someone likes
it, an account gone while its token is still valid). Those races end here, as the
error the client would have got a moment later.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import exc as sa_exc

from wren.errors import NotFound, Unauthenticated, WrenError


def _account_gone() -> WrenError:
    return Unauthenticated("This account no longer exists.")


def _post_gone() -> WrenError:
    return NotFound("No post has this id.", field="postId")


def _user_gone() -> WrenError:
    return NotFound("No user has this id.", field="userId")


MEANINGS: dict[str, Callable[[], WrenError]] = {
    "posts_author_id_fkey": _account_gone,
    "comments_author_id_fkey": _account_gone,
    "follows_follower_id_fkey": _account_gone,
    "likes_user_id_fkey": _account_gone,
    "comments_post_id_fkey": _post_gone,
    "likes_post_id_fkey": _post_gone,
    "follows_followee_id_fkey": _user_gone,
}


def violated_constraint(error: sa_exc.IntegrityError) -> str | None:
    """The name of the constraint a failed write violated, when the driver reports it."""
    # SQLAlchemy wraps asyncpg's exception, which carries the name.
    driver_error = error.orig.__cause__ if error.orig is not None else None
    name = getattr(driver_error, "constraint_name", None)
    return name if isinstance(name, str) else None


def meaning(error: sa_exc.IntegrityError) -> WrenError | None:
    """The domain error a constraint violation stands for; None when it is a bug."""
    name = violated_constraint(error)
    make = MEANINGS.get(name) if name is not None else None
    return make() if make is not None else None
