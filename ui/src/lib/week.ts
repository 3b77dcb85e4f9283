// When this week began for the person: Monday 00:00 in the computer's local
// time zone (the "This week" card counts from there).

/** Unix ms of the Monday 00:00 (local time) at or before `now`. */
export function mondayMidnight(now: Date): number {
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  // getDay: 0 is Sunday; Monday is 1.
  const back = (start.getDay() + 6) % 7;
  start.setDate(start.getDate() - back);
  return start.getTime();
}
