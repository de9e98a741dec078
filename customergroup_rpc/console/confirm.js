// Calls that delete or remove run only after a question in the page that names what they change.

import { $ } from "./render.js";
import { compact, formatCall } from "./notation.js";

const LISTED = 10; // customer uids named in a question; more are counted

function group(uid) {
  return `group ${uid === undefined ? "(none given)" : compact(uid)}`;
}

function customers(list) {
  if (!Array.isArray(list)) return `the customers ${compact(list ?? null)}`;
  const n = new Set(list).size; // the service counts each customer once
  return n === 1 ? "1 customer" : `${n} customers`;
}

function named(list) {
  if (!Array.isArray(list) || list.length === 0) return "";
  const shown = list.slice(0, LISTED).map(compact).join(", ");
  const more = list.length > LISTED ? ` and ${list.length - LISTED} more` : "";
  return `Customers: ${shown}${more}. `;
}

const QUESTIONS = {
  "Customergroup.delete": ([uid]) => ({
    question: `Delete customer ${group(uid)}?`,
    detail: "Its customers are unassigned from it and its uid is never handed out again; this cannot be undone.",
    action: "Delete",
  }),
  "Customergroup.removeCustomers": ([uid, list]) => ({
    question: `Remove ${customers(list)} from ${group(uid)}?`,
    detail: `${named(list)}The customers themselves stay; only their membership goes.`,
    action: "Remove",
  }),
  "Customergroup.moveCustomers": ([from, to, list]) => ({
    question:
      list === null
        ? `Move all customers of ${group(from)} to ${group(to)}?`
        : `Move ${customers(list)} from ${group(from)} to ${group(to)}?`,
    detail: `${named(list)}They leave ${group(from)}; all move or none does.`,
    action: "Move",
  }),
};

// {question, detail, action} for a call that deletes or removes, or null for any other call.
export function questionFor(call) {
  const ask = QUESTIONS[call.method];
  return ask ? ask(call.params) : null;
}

// Shows the question in the page's dialog, focus on Cancel; resolves true only on the action.
export function askFirst(call, { question, detail, action }) {
  const dialog = $("confirm");
  $("confirm-question").textContent = question;
  $("confirm-detail").textContent = detail;
  $("confirm-call").textContent = formatCall(call.method, call.params);
  $("confirm-run").textContent = action;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "run"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}
