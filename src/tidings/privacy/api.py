"""Privacy routes (placeholder while being built)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["server"])
