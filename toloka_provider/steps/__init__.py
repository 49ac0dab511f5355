"""The domain steps under the operators: what a pipeline does with Toloka, written once, over a client.

Operators handle arguments and XCom; the steps below them do the work and keep the rules that make a task
safe to retry:

* ``find_or_create``: create a project / pool / training once per task instance, found again by its
  ``metadata`` tag (or an App batch by its name), also when a create's answer was lost;
* ``status``: change a status, where "409, then the object is already where we wanted it" is success;
* ``pools``: read a pool or a training by id;
* ``uploads``: upload tasks in chunks under deterministic operation ids;
* ``review``: decide accept / reject for each assignment (golden accuracy, a callable), then send the
  decisions with bounded concurrency, where a 409 on an assignment already decided that way is done;
* ``votes``: answers read from assignments (each assignment once) as votes for the local aggregation;
* ``quality``: the quality-control rules (bans, skill values, bonuses still to pay, message threads).

Each step takes the client (``hook.get_conn()``), plain data and a logger. Steps know no ``BaseOperator``
and no XCom; a bad input they find raises the client's ``TolokaArgumentError``, which the operators' error
mapping turns into ``TolokaInputError``. Files are the operators' business (``toloka_provider/files.py``): steps
get iterables.
"""
