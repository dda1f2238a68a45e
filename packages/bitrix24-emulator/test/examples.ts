/**
 * The request examples of the vendor's pages `crm.item.import` and `crm.item.batchImport`
 * (the curl bodies, verbatim; the shell's `$(date '+%Y-%m-%d')` becomes today's date).
 */
const today = new Date().toISOString().slice(0, 10)

export const dealFields = {
  title: "New Deal (specifically for the REST methods example)",
  typeId: "SERVICE",
  categoryId: 9,
  stageId: "C9:UC_KN8KFI",
  isReccurring: "Y",
  probability: 50,
  currencyId: "USD",
  isManualOpportunity: "Y",
  opportunity: 999.99,
  taxValue: 99.9,
  companyId: 5,
  contactId: 4,
  contactIds: [4, 5],
  quoteId: 7,
  begindate: "formatDate(monthAgo)",
  closedate: "formatDate(twelveDaysInAdvance)",
  opened: "N",
  comments: "commentsExample",
  assignedById: 6,
  sourceId: "WEB",
  sourceDescription: "There should be additional description about the source",
  leadId: 102,
  additionalInfo: "There should be additional information",
  observers: [2, 3],
  utmSource: "google",
  utmMedium: "CPC",
  ufCrm_1721244707107: 1111.1,
  parentId1220: 2,
}

/** crm.item.import, "How to import a deal". */
export const importDeal = { entityTypeId: 2, fields: dealFields }

/** crm.item.batchImport, "How to import deals": two deals (the second in category 4). */
export const batchImportDeals = { entityTypeId: 2, data: [dealFields, { ...dealFields, categoryId: 4 }] }

const pixel =
  "iVBORw0KGgoAAAANSUhEUgAAAIAAAAAMCAYAAACqTLVoAAAALklEQVR42u3SAQEAAAQDsEsuOj3YMqwy6fBWCSCAAAIgAAIgAAIgAAIgAAJw3QLOrRH1U/gU4gAAAABJRU5ErkJggg=="

const spaItem = (text: string, list: number, file: string, money: string, flag: string) => ({
  ufCrm44_1721812760630: text,
  ufCrm44_1721812814433: list,
  ufCrm44_1721812853419: today,
  ufCrm44_1721812885588: ["example.com", "second-example.com"],
  ufCrm44_1721812898903: [file, pixel],
  ufCrm44_1721812915476: money,
  ufCrm44_1721812935209: flag,
  ufCrm44_1721812948498: 9999.9,
})

/** crm.item.import, "How to create an SPA element with a set of user fields". */
export const importSpa = {
  entityTypeId: 1302,
  fields: spaItem("String for user field of type String", 81, "green_pixel.png", "300|USD", "Y"),
}

/** crm.item.batchImport, "How to create an SPA element with a set of custom fields". */
export const batchImportSpa = {
  entityTypeId: 1302,
  data: [
    spaItem("String for custom field of type String", 81, "green_pixel.png", "300|USD", "Y"),
    spaItem("String for custom field of type String", 45, "green_pixel2.png", "600|USD", "N"),
  ],
}
