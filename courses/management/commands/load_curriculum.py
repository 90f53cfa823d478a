"""python manage.py load_curriculum: load or update the platform courses from courses/curriculum/."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.curriculum_loader import CURRICULUM_DIR, CurriculumError, curriculum_load, curriculum_read


class Command(BaseCommand):
    help = "Load the platform curriculum (both languages), or update it in place; loading twice changes nothing."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--path", type=Path, default=CURRICULUM_DIR, help="The curriculum folder (default: the shipped one)."
        )
        parser.add_argument("--check", action="store_true", help="Only read and check the files; write nothing.")

    def handle(self, *args, path: Path, check: bool, **options) -> None:
        try:
            if check:
                documents = curriculum_read(path)
                self.stdout.write(f"{len(documents)} courses checked; nothing written.")
                return
            report = curriculum_load(path)
        except CurriculumError as error:
            raise CommandError(str(error)) from None
        loaded = ", ".join(f"{slug} ({language})" for slug, language in report.courses)
        self.stdout.write(
            f"Loaded {loaded}: {report.created} created, {report.updated} updated, "
            f"{report.deleted} deleted, {report.unchanged} unchanged."
        )
