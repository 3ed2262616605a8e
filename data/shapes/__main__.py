"""``python -m data.shapes --gallery docs/shapes_gallery.png``: see :mod:`data.shapes.gallery`."""

from data.shapes.gallery import main

if __name__ == "__main__":
    main()
